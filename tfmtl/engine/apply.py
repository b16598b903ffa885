"""The last phase of a step: clip, apply (or skip), count faults.

Numerical faults: when a global loss or the global gradient is not finite the
update is skipped: the optimizer is not applied (weights, slots and
`optimizer.iterations` stay put) and the method's state variables are put
back to their values before the step, so a method whose `__call__`/`update`
mutated state commits nothing. The decision is taken on all-reduced values,
so every replica takes it; it is a `tf.cond` in cross-replica context (what
`keras.optimizers.LossScaleOptimizer` does, because a cond whose branch calls
`merge_call` is not allowed in a replica context). `Counters` (checkpointed)
count attempted steps, skips and consecutive faults.

Absent tasks (no labelled example in the step): their gradient is zero,
but an optimizer with state (momentum, Adam) would still move their own
variables by that state. `AbsentHold` puts back, after the apply, an absent
task's own variables, its slices of the method's per-task trainable
variables (uncertainty's log σ², IMTL-L's scales) and the optimizer's
slots of both, so the task is frozen as PyTorch freezes a parameter whose
gradient is None. One difference remains: Keras counts optimizer steps
globally, so Adam's bias correction for a task back after k absent steps
uses the global step, where PyTorch's per-parameter count would be k less.

Mixed precision: under the "mixed_float16" Keras policy the step keeps a
dynamic loss scale (×2 after 2000 finite steps, ÷2 on overflow).
"""

import re

import keras
import tensorflow as tf

from tfmtl.errors import UserError
from tfmtl.weighting.base import state

# Dynamic loss scaling (mixed_float16), as keras.mixed_precision.
INITIAL_LOSS_SCALE = 2.0 ** 15
"""The loss scale a mixed_float16 run starts from."""
LOSS_SCALE_PERIOD = 2000
"""Finite steps in a row after which the loss scale doubles."""


class Counters(tf.Module):
  """Step bookkeeping the checkpoint keeps: attempted steps, skipped
  (non-finite) updates, consecutive faults, the tasks of the last skip and
  the dynamic loss scale."""

  def __init__(self, num_tasks: int):
    super().__init__(name="train_step_counters")
    self.steps = state(0, "steps", dtype=tf.int64)
    self.skips = state(0, "nonfinite_skips", dtype=tf.int64)
    self.consecutive = state(0, "consecutive_skips", dtype=tf.int64)
    self.bad_loss = state(tf.zeros([num_tasks], tf.bool), "bad_loss",
                          dtype=tf.bool)
    self.bad_grad = state(tf.zeros([num_tasks], tf.bool), "bad_grad",
                          dtype=tf.bool)
    self.loss_scale = state(INITIAL_LOSS_SCALE, "loss_scale")
    self.good_steps = state(0, "good_steps", dtype=tf.int64)
    # jit_compile="auto"'s choice (-1 undecided, 0 plain, 1 XLA): a resumed
    # run keeps the form it chose (engine/jit_choice.py).
    self.xla = state(-1, "xla_choice", dtype=tf.int64)


def all_finite(tensors):
  return tf.reduce_all(tf.stack(
      [tf.reduce_all(tf.math.is_finite(t)) for t in tensors]))


def clip_values(clip_by_value, variables):
  """[c or None] per variable from {regex on variable path: c}."""
  values = [None] * len(variables)
  for pattern, value in (clip_by_value or {}).items():
    hits = [i for i, v in enumerate(variables) if re.search(pattern, v.path)]
    if not hits:
      raise UserError(f"clip_by_value pattern {pattern!r} matches no "
                      "trainable variable; variable paths look like "
                      f"{variables[0].path!r}")
    for i in hits:
      values[i] = float(value)
  return values


def clip(grads, clip_global_norm, values):
  """Global-norm clip, then per-variable clip by value; returns the norm
  before clipping."""
  norm = tf.linalg.global_norm(grads)
  if clip_global_norm:
    grads, _ = tf.clip_by_global_norm(grads, clip_global_norm, use_norm=norm)
  grads = [g if c is None else tf.clip_by_value(g, -c, c)
           for g, c in zip(grads, values)]
  return grads, norm


def slots_of(optimizer, variable):
  """The optimizer's per-variable state of `variable` (momentum, velocity,
  ...): Keras optimizers keep it in lists aligned with their variables
  (`add_optimizer_variables`), found here by that alignment rather than by
  attribute name, so any built Keras optimizer works."""
  own = getattr(optimizer, "_trainable_variables", None) or []
  try:
    index = optimizer._get_variable_index(variable)  # pylint: disable=protected-access
  except KeyError:  # not a variable this optimizer updates
    return []
  out = []
  for value in vars(optimizer).values():
    if (isinstance(value, (list, tuple)) and value is not own and
        len(value) == len(own) and
        all(x is None or isinstance(x, keras.Variable) for x in value)):
      slot = value[index]
      if slot is not None and tuple(slot.shape) == tuple(variable.shape):
        out.append(slot)
  return out


class AbsentHold:
  """What an absent task must keep through the apply (module docstring):
  entries (variable, task index) for its own variables and (variable,
  None) for method variables whose first axis is the task axis, each with
  the optimizer's slots of it."""

  def __init__(self, optimizer, task_variables, method_variables,
               num_tasks):
    self.entries = []
    for t, variables in enumerate(task_variables):
      for v in variables:
        self.entries += [(x, t) for x in [v] + slots_of(optimizer, v)]
    for v in method_variables:
      if v.shape.rank and v.shape[0] == num_tasks:
        self.entries += [(x, None) for x in [v] + slots_of(optimizer, v)]

  def snapshot(self):
    return [tf.identity(tf.convert_to_tensor(v)) for v, _ in self.entries]

  def restore(self, olds, here):
    """Absent tasks' entries back to `olds` (`here`: [T] bool, global)."""
    values = []
    for (v, t), old in zip(self.entries, olds):
      keep = (here[t] if t is not None else
              tf.reshape(here, [-1] + [1] * (old.shape.rank - 1)))
      values.append(tf.where(keep, tf.convert_to_tensor(v), old))
    # Keras variables wrap the tf.Variable that the strategy updates.
    variables = [v.value if isinstance(v, keras.Variable) else v
                 for v, _ in self.entries]

    def assign(distribution, values):
      for v, x in zip(variables, values):
        distribution.extended.update(v, lambda a, b: a.assign(b),
                                     args=(x,), group=False)
    tf.__internal__.distribute.interim.maybe_merge_call(
        assign, tf.distribute.get_strategy(), values)


def apply_if(finite, optimizer, grads, variables, ctx, hold=None,
             here=None):
  """Applies the optimizer only when `finite` (the same on every replica);
  with `hold` and `here` ([T] bool) absent tasks' entries stay put.

  With merge_call strategies (MirroredStrategy) the cond must sit in
  cross-replica context, since `apply_gradients` calls `merge_call`.
  """
  held = hold is not None and here is not None and hold.entries

  def apply(gs, here):
    olds = hold.snapshot() if held else None
    optimizer.apply_gradients(zip(gs, variables))
    if held:
      hold.restore(olds, here)

  if here is None:
    here = tf.constant(True)  # a placeholder argument; unused
  if tf.__internal__.distribute.strategy_supports_no_merge_call():
    tf.cond(finite, lambda: apply(grads, here), lambda: None)
    return

  def cross_replica(distribution, finite, grads, here):
    first = distribution.experimental_local_results(finite)[0]
    tf.cond(first, lambda: distribution.extended.call_for_each_replica(
        apply, args=(grads, here)), lambda: None)
  ctx.merge_call(cross_replica, args=(finite, grads, here))


def count(counters, task_names, finite, bad_loss, bad_grad, scale):
  """Updates `counters` from global values; returns their logs."""
  c = counters
  skipped = tf.logical_not(finite)
  # An overflow while the loss scale can still shrink is the normal way
  # dynamic loss scaling probes; it is skipped but is no fault.
  fault = skipped
  if scale is not None:
    fault = tf.logical_and(skipped, tf.logical_or(
        tf.reduce_any(bad_loss), scale <= 1.0))
  c.steps.assign_add(1)
  c.skips.assign_add(tf.cast(skipped, tf.int64))
  c.consecutive.assign(tf.where(
      finite, tf.constant(0, tf.int64),
      c.consecutive.read_value() + tf.cast(fault, tf.int64)))
  c.bad_loss.assign(tf.where(skipped, bad_loss, c.bad_loss.read_value()))
  c.bad_grad.assign(tf.where(skipped, bad_grad, c.bad_grad.read_value()))
  logs = {"nonfinite_skips": c.skips.read_value(),
          "consecutive_skips": c.consecutive.read_value()}
  if scale is not None:
    good = tf.where(finite, c.good_steps.read_value() + 1, 0)
    grow = good >= LOSS_SCALE_PERIOD
    c.loss_scale.assign(tf.where(
        finite, tf.where(grow, scale * 2.0, scale),
        tf.maximum(scale * 0.5, 1.0)))
    c.good_steps.assign(tf.where(grow, tf.constant(0, tf.int64), good))
    logs["loss_scale"] = c.loss_scale.read_value()
  codes = (tf.cast(c.bad_loss.read_value(), tf.int32) +
           2 * tf.cast(c.bad_grad.read_value(), tf.int32))
  for i, name in enumerate(task_names):
    # 1: loss, 2: gradient, 3: both were non-finite at the last skip.
    logs[f"nonfinite/{name}"] = codes[i]
  return logs
