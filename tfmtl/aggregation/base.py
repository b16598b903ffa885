"""Gradient-level balancing methods: per-task gradients J -> one gradient.

Contract (other code relies on it): an aggregator is callable as `agg(J)` on
a float32 tensor J of shape [T, n] -- row t the flattened gradient of task t's
(unweighted) mean loss w.r.t. the shared variables -- and returns the
combined [n] gradient. Randomised aggregators take a `seed`.

In the train step J is global (all-reduced over replicas), so every replica
returns the same vector. Task-specific variables are not aggregated: task t's
own variables receive w_t · ∇L_t with its configured weight w_t.

Optional pieces:
  build(tasks, num_params, shared_variables)
                             learn configured weights/roles and create state
                             (inside the strategy's scope); without it the
                             weights are all 1 and every task is "main".
                             `shared_variables` (the list J's columns are
                             flattened from, in order) lets a method report
                             per-layer statistics
  needs                      {"variance"}: the step passes
                             `variance=` [T, n] per-sample gradient variance;
                             {"losses"}, {"step"}: the global task losses
                             [T], the optimizer step;
                             {"representation"}: the step differentiates
                             w.r.t. the model's shared representation
                             (`MultiTaskModel.call_split`) instead of
                             forming J, and calls
                             `weights_from_gramian(G)` with G [T, T] the
                             Gramian of the representation Jacobian (see
                             mgda_ub.py)
  logs() -> dict             extra scalars for summaries
  batches_per_step = K       K > 1: the step draws K independent batches
                             and calls `agg(J_K, jacobians=[K, T, n])`
                             (MoDo, SDMGrad); other methods pay nothing

Absent tasks (partly labelled data, a task with no labelled example in the
step): the step calls `combine(J, present=[T] bool)`. By default the
method is applied to the present rows only (absent.py); a method with
per-task state or roles sets `handles_absent = True`, takes `present=` in
`__call__` and says in its docstring what it does (its state for an absent
task must not move). `min_tasks`: fewest tasks the rule works with.
"""

from typing import Dict, FrozenSet, Optional, Sequence

import tensorflow as tf


from tfmtl.aggregation import absent
from tfmtl.weighting.base import state  # noqa: F401  (re-exported for methods)
from tfmtl.options import Configurable


class Aggregator(Configurable, tf.Module):
  """Base class of gradient aggregators."""

  needs: FrozenSet[str] = frozenset()
  handles_absent: bool = False
  min_tasks: int = 1

  def build(self, tasks: Sequence, num_params: Optional[int] = None,
            shared_variables: Optional[Sequence] = None) -> None:
    del num_params, shared_variables
    self.task_names = [t.name for t in tasks]
    self.roles = [t.role for t in tasks]
    self.task_weights = tf.constant([t.weight for t in tasks], tf.float32)

  def weights_for(self, J: tf.Tensor) -> tf.Tensor:
    """Configured task weights [T] (all ones when the aggregator is unbuilt).

    J: any tensor whose first dimension is T (J or its Gramian); its dtype
    is the result's.
    """
    w = getattr(self, "task_weights", None)
    if w is None:
      return tf.ones([tf.shape(J)[0]], J.dtype)
    return tf.cast(w, J.dtype)

  def __call__(self, J: tf.Tensor, **extra) -> tf.Tensor:
    raise NotImplementedError

  def combine(self, J: tf.Tensor, present: Optional[tf.Tensor] = None,
              **extra) -> tf.Tensor:
    """The step's entry: `self(J)`, leaving tasks with `present` False out
    of the problem (see the module docstring)."""
    if present is None:
      return self(J, **extra)
    if self.handles_absent:
      return self(J, present=present, **extra)
    return absent.rows(self, J, present, extra)

  def logs(self) -> Dict[str, tf.Tensor]:
    return {}

  def setup(self) -> str:
    """After build: how the method reads these tasks, for start-up lines
    ("" if nothing to say)."""
    return ""
