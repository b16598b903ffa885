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

from typing import Optional, Sequence

import tensorflow as tf

from tfmtl.method_base import LOSS_NEEDS, Method, Need

# What a weighting may need (tfmtl/method_base.py: the contract).
NEEDS = tuple(sorted(n.value for n in LOSS_NEEDS))


class Weighting(Method):
  """Base class of loss weightings. `needs` (tfmtl.method_base.Need) lists
  extra statistics `update` wants:

  - Need.GRAD_NORMS: ‖∇_W L_t‖ for each task t on the model's last shared
    layer W
  - Need.KPIS: per-task KPI in [0, 1] (Task.kpi)
  - Need.LOSSES_AFTER: the losses of the same batch after the update, given
    to `update_after` (one more forward pass per step, for this method only)
  """

  ALLOWED_NEEDS = LOSS_NEEDS

  def build(self, tasks: Sequence) -> None:
    """Learns the tasks' names and configured weights and creates the
    method's state; called once, inside the strategy's scope.

    Args:
      tasks: the `tfmtl.tasks.Task`s trained, in the order of `losses`.
    """
    self.num_tasks = len(tasks)
    self.task_names = [t.name for t in tasks]
    self.task_weights = tf.constant([t.weight for t in tasks], tf.float32)

  def __call__(self, losses: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
    raise NotImplementedError

  def regularizer(self, present: Optional[tf.Tensor] = None) -> tf.Tensor:
    """The extra loss term added to Σ_t w_t L_t (0 by default; uncertainty's
    Σ_t s_t / 2, for example).

    Args:
      present: [T] bool, the tasks with a labelled example in the step (for
        methods with `handles_absent`); a regularizer must not move an absent
        task's variables.
    """
    del present
    return tf.constant(0.0)

  def update(self, losses: tf.Tensor, step: tf.Tensor,
             grad_norms: Optional[tf.Tensor] = None,
             kpis: Optional[tf.Tensor] = None,
             present: Optional[tf.Tensor] = None) -> None:
    """Updates the method's state after the step, from the step's global
    statistics (nothing by default).

    Args:
      losses: the global task losses [T] of the step.
      step: the optimizer step.
      grad_norms: with Need.GRAD_NORMS, ‖∇_W L_t‖ [T] on the watched layer W.
      kpis: with Need.KPIS, each task's KPI [T] in [0, 1].
      present: [T] bool, the tasks with a labelled example in the step (for
        methods with `handles_absent`): an absent task's statistics must not
        move.
    """
    del losses, step, grad_norms, kpis, present

  def update_after(self, losses_after: tf.Tensor,
                   present: Optional[tf.Tensor] = None) -> None:
    """With Need.LOSSES_AFTER: the batch's global losses after the update."""
    del losses_after, present


__all__ = ["Weighting", "Need", "state", "NEEDS"]


def state(value, name, dtype=tf.float32, trainable=False):
  """A method's state variable; replicas assign it identical global values."""
  return tf.Variable(
      value, dtype=dtype, trainable=trainable, name=name,
      aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)


# --- Helpers for methods that take `present` (None: every task present).
# With present=None each one is the plain op, so a batch without absent
# tasks computes exactly what it did before absent tasks were handled.


def num_present(present, num_tasks):
  """P, the number of present tasks (T when `present` is None)."""
  if present is None:
    return float(num_tasks)
  return tf.reduce_sum(tf.cast(present, tf.float32))


def keep(present, new, old):
  """`new` for present tasks, `old` (unchanged state) for absent ones."""
  return new if present is None else tf.where(present, new, old)


def zero_absent(x, present):
  """x with absent tasks' entries 0 (a where, not a product: an absent
  entry may be inf or NaN)."""
  return x if present is None else tf.where(present, x, tf.zeros_like(x))


def masked_mean(x, present):
  """Mean of x over the present tasks (0 when none is)."""
  if present is None:
    return tf.reduce_mean(x)
  p = tf.cast(num_present(present, 0), x.dtype)
  return tf.reduce_sum(zero_absent(x, present)) / tf.maximum(p, 1.0)


def masked_softmax(x, present):
  """softmax over the present tasks' entries of x, 0 for absent ones (all
  0 when none is present); exactly tf.nn.softmax(x) when all are."""
  if present is None:
    return tf.nn.softmax(x)
  low = tf.fill(tf.shape(x), x.dtype.min)
  top = tf.reduce_max(tf.where(present, x, low))
  e = zero_absent(tf.exp(tf.where(present, x - top, tf.zeros_like(x))),
                  present)
  total = tf.reduce_sum(e)
  masked = e / tf.where(total > 0, total, tf.ones_like(total))
  return tf.where(tf.reduce_all(present), tf.nn.softmax(x), masked)


def renormalise_present(w, old, present, num_tasks):
  """w rescaled to Σ w = T (present None), else the present tasks' w
  rescaled to the total the present tasks had in `old` (so Σ stays T) and
  absent tasks' `old` kept."""
  if present is None:
    return num_tasks * w / tf.reduce_sum(w)
  total = num_tasks - tf.reduce_sum(zero_absent(old, tf.logical_not(present)))
  return tf.where(present, total * w / tf.reduce_sum(zero_absent(w, present)),
                  old)
