"""Gradient-level balancing methods: per-task gradients J -> one gradient.

Contract (other code relies on it): an aggregator is callable as `agg(J)` on
a float32 tensor J of shape [T, n] -- row t the flattened gradient of task t's
(unweighted) mean loss w.r.t. the shared variables -- and returns the
combined [n] gradient. Randomised aggregators take a `seed`.

In the train step J is global (all-reduced over replicas), so every replica
returns the same vector. Task-specific variables are not aggregated: task t's
own variables receive w_t · ∇L_t with its configured weight w_t.

What the step reads of an aggregator is declared in tfmtl/method_base.py
(`Method`: needs, needs_when, handles_absent, min_tasks, batches_per_step,
xla_ok, variance_tasks / variance_due, setup, logs). Besides `__call__`:
  build(tasks, num_params, shared_variables)
                             learn configured weights/roles and create state
                             (inside the strategy's scope); without it the
                             weights are all 1 and every task is "main".
                             `shared_variables` (the list J's columns are
                             flattened from, in order) lets a method report
                             per-layer statistics
  needs (Need members or names)
                             VARIANCE: `variance=` [T, n] per-sample gradient
                             variance; LOSSES, STEP: the global task losses
                             [T], the optimizer step; REPRESENTATION: the
                             step differentiates w.r.t. the model's shared
                             representation instead of forming J and calls
                             `weights_from_gramian(G)` with G [T, T] the
                             Gramian of the representation Jacobian (see
                             mgda_ub.py); LOSS_WEIGHTS: a composition's
                             weights. The step hands them over as one
                             `StepInputs` (`apply(J, inputs)`).
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

from typing import Optional, Sequence

import tensorflow as tf

from tfmtl.aggregation import absent
from tfmtl.method_base import GRADIENT_NEEDS, Method, Need, StepInputs  # noqa: F401
from tfmtl.weighting.base import state  # noqa: F401  (re-exported for methods)


class Aggregator(Method):
  """Base class of gradient aggregators (see the module docstring)."""

  ALLOWED_NEEDS = GRADIENT_NEEDS

  def build(self, tasks: Sequence, num_params: Optional[int] = None,
            shared_variables: Optional[Sequence] = None) -> None:
    """Learns the tasks' names, roles and configured weights and creates
    the method's state; called once, inside the strategy's scope. Without it
    every weight is 1 and every task is "main".

    Args:
      tasks: the `tfmtl.tasks.Task`s trained, in the order of J's rows.
      num_params: n, the number of shared parameters (J's columns).
      shared_variables: the shared variables J's columns are flattened from,
        in order (for per-layer statistics).
    """
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

  def apply(self, J: tf.Tensor, inputs: StepInputs) -> tf.Tensor:
    """The step's entry: `combine` with what the step computed for the
    method (`inputs` holds what it declared)."""
    return self.combine(J, **inputs.kwargs())
