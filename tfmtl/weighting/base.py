"""Loss-level balancing methods: task losses -> task weights.

The train step makes one backward pass of

    total = Σ_t w_t · L_t + regularizer

A method sees *global* quantities (losses all-reduced over replicas), so every
replica computes the same weights. Its state lives in `tf.Variable`s it owns
(a `tf.Module`), which the checkpoint tracks.

Shape of a method (after optax's init/update pair):
  build(tasks)                    create state; called once, inside the
                                  strategy's scope
  __call__(losses, step) -> w     weights for this step, [T]; differentiable
                                  only w.r.t. the method's own trainable
                                  variables (uncertainty's log-variances)
  regularizer() -> scalar         extra loss term (default 0)
  update(losses, step, **stats)   state update after the step, from global
                                  stats named in `needs`
  update_after(losses)            with "losses_after" in `needs`: the
                                  batch's global losses re-evaluated after
                                  the model's update (FAMO)
  logs() -> dict                  extra scalars for summaries

Absent tasks (partly labelled data: no labelled example of task t in the
step, so L_t = 0 and there is no gradient): a method that sets
`handles_absent = True` gets `present=` [T] bool in `__call__`,
`regularizer`, `update` and `update_after`, and must neither update its
statistics for an absent task from the fake 0 (DWA's history, GradNorm's
initial losses, DTP's KPIs, EMAs) nor let a regularizer move its variables.
The step sets an absent task's weight to 0 whatever the method returns.
Its docstring says what it does.
"""

from typing import Dict, FrozenSet, Optional, Sequence

import tensorflow as tf

NEEDS = ("grad_norms", "kpis", "losses_after")


class Weighting(tf.Module):
  """Base class. `needs` lists extra statistics `update` wants:

  - "grad_norms": ‖∇_W L_t‖ for each task t on the model's last shared layer W
  - "kpis": per-task KPI in [0, 1] (Task.kpi)
  - "losses_after": the losses of the same batch after the update, given to
    `update_after` (one more forward pass per step, for this method only)
  """

  needs: FrozenSet[str] = frozenset()
  handles_absent: bool = False

  def build(self, tasks: Sequence) -> None:
    self.num_tasks = len(tasks)
    self.task_names = [t.name for t in tasks]
    self.task_weights = tf.constant([t.weight for t in tasks], tf.float32)

  def __call__(self, losses: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
    raise NotImplementedError

  def regularizer(self) -> tf.Tensor:
    return tf.constant(0.0)

  def update(self, losses: tf.Tensor, step: tf.Tensor,
             grad_norms: Optional[tf.Tensor] = None,
             kpis: Optional[tf.Tensor] = None) -> None:
    del losses, step, grad_norms, kpis

  def logs(self) -> Dict[str, tf.Tensor]:
    return {}


def state(value, name, dtype=tf.float32, trainable=False):
  """A method's state variable; replicas assign it identical global values."""
  return tf.Variable(
      value, dtype=dtype, trainable=trainable, name=name,
      aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
