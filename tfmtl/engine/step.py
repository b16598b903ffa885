"""`make_train_step`: one train step for any model, tasks and method.

A step runs four phases, each in its own module:

1. forward.py — the forward pass and each task's loss share;
2. gradients.py — gradients by the kind of method: one backward pass of the
   weighted sum (loss level), the per-task Jacobian J (gradient level), or
   the representation's Gramian and one shared backward (representation
   level);
3. the method combines (inside the gradient phase: it sees global values);
4. apply.py — clip the global gradient, apply it or skip a non-finite step,
   count faults and move the loss scale.

The model is any Keras model returning {task: output}; its task split
(shared / own variables, representation, watched layer) comes from
`tfmtl.models.split.resolve`.

Distribution: every quantity a method sees is global. The step all-reduces
losses, J, statistics and gradients itself, clips the global gradient, and
hands the optimizer gradient / R because Keras 3's optimizer sums gradients
across replicas again inside `apply_gradients` (DESIGN.md §5). The same code
runs eagerly, under tf.function, under XLA, in `strategy.run` and inside
`Trainer.fit`; with no strategy the default replica context makes every
all-reduce an identity.

Mixed precision: outputs are cast to float32 before the losses; under the
"mixed_float16" Keras policy the losses are multiplied by the dynamic loss
scale before differentiating and gradients divided by it after the
all-reduce. Per-sample statistics are computed unscaled.
"""

from typing import Dict, Optional, Sequence

import keras
import tensorflow as tf

from tfmtl import contract
from tfmtl.aggregation.base import Aggregator
from tfmtl.aggregation.composed import Composed
from tfmtl.engine import apply, gradients
from tfmtl.engine.forward import (SUM, forward, label_counts, label_weights,
                                  loss_shares, present)
from tfmtl.engine.gradients import size
from tfmtl.errors import UserError
from tfmtl.models.split import resolve
from tfmtl.weighting.base import Weighting


def xla_problem(method) -> Optional[str]:
  """Why `method` can't be compiled with XLA, or None if it can.

  A method class that can't be compiled sets `xla_ok = False` and
  `xla_reason = "..."` (also said in its docstring).
  """
  if getattr(method, "xla_ok", True):
    return None
  return (f"method {type(method).__name__} can't be compiled with XLA: "
          f"{getattr(method, 'xla_reason', 'no reason given')}")


def check_partition(model, task_names):
  """Every trainable variable is shared or belongs to exactly one task."""
  split = resolve(model, task_names)
  groups = [("shared", split.shared_variables)] + [
      (t, split.task_variables(t)) for t in task_names]
  owner = {}
  for group, variables in groups:
    for v in variables:
      if id(v) in owner:
        raise UserError(f"model {split.model.name}: variable {v.path} is in "
                        f"both {owner[id(v)]!r} and {group!r}")
      owner[id(v)] = group
  missing = [v.path for v in split.model.trainable_variables
             if id(v) not in owner]
  if missing:
    raise UserError(f"model {split.model.name}: variables in no group: "
                    f"{missing}")


def _check_strategy(method, strategy, jit_compile):
  problem = xla_problem(method)
  if problem and (jit_compile or isinstance(strategy,
                                            tf.distribute.TPUStrategy)):
    raise UserError(f"{problem}; run it without jit_compile and not on "
                    "TPU, or choose another method")
  if (jit_compile and strategy.num_replicas_in_sync > 1 and
      not isinstance(strategy, tf.distribute.TPUStrategy)):
    # Compiled whole, the step is one XLA cluster reading every replica's
    # variables, which XLA can't do across devices ("Trying to access
    # resource ... located in device CPU:1"); compiled per replica, the
    # shared trace captures one replica's variables. Measured with TF 2.21
    # on logical CPUs (bench/scaling.py).
    raise UserError(
        f"jit_compile with {type(strategy).__name__} over "
        f"{strategy.num_replicas_in_sync} replicas is not supported: "
        "use one device, TPUStrategy, or leave jit_compile off")


class TrainStep:
  """A built train step. Call it with a batch `(inputs, labels)` or
  `(inputs, labels, {task: sample weights})` (a distributed batch under a
  strategy) or use `loop(iterator, n)` to run n
  steps in one call. Both return a dict of global scalars (task losses and
  weights, total loss, gradient norm, the method's own logs).
  `replica_step(inputs, labels)` is the same step for code that is already
  in a replica context (`Trainer.train_step`)."""

  def __init__(self, model, tasks, method, optimizer, strategy=None,
               clip_global_norm: Optional[float] = None,
               clip_by_value: Optional[Dict[str, float]] = None,
               per_sample_mode: str = "independent",
               function: bool = True, jit_compile: bool = False,
               input_spec=None):
    self.tasks, self.method = list(tasks), method
    self.optimizer = optimizer
    self.strategy = strategy or tf.distribute.get_strategy()
    self.clip_global_norm = clip_global_norm
    self.per_sample_mode = per_sample_mode
    names = [t.name for t in self.tasks]
    self.split = resolve(model, names, input_spec=input_spec)
    self.model = self.split.model
    if isinstance(method, Weighting):
      self.kind = "losses"
    elif isinstance(method, Aggregator):
      self.kind = "grads"
    else:
      raise UserError(f"{method!r} is neither a weighting nor an aggregation "
                      "method")
    self.on_representation = "representation" in method.needs
    self.batches_per_step = int(getattr(method, "batches_per_step", 1))
    if self.batches_per_step > 1 and (
        self.on_representation or method.needs - {"step"}):
      raise UserError(f"{type(method).__name__} reads several batches per "
                      "step and can't also read "
                      f"{sorted(method.needs)}")
    _check_strategy(method, self.strategy, jit_compile)
    self.loss_scaling = (
        keras.mixed_precision.global_policy().name == "mixed_float16")
    with self.strategy.scope():
      self.counters = apply.Counters(len(self.tasks))
      if self.kind == "grads":
        if self.on_representation:
          self.split.check_representation()
        self.shared = list(self.split.shared_variables)
        self.task_vars = [self.split.task_variables(n) for n in names]
        n = sum(size(v) for v in self.shared)
        method.build(self.tasks, num_params=n, shared_variables=self.shared)
        self.variables = self.shared + [v for vs in self.task_vars for v in vs]
        if isinstance(method, Composed):  # the weighting's own variables
          self.variables += list(method.weighting.trainable_variables)
      else:
        method.build(self.tasks)
        self.watched = (self.split.watched_variables
                        if "grad_norms" in method.needs else [])
        self.variables = (list(self.split.trainable_variables) +
                          list(method.trainable_variables))
      # Built inside the scope before the first step: no second trace.
      optimizer.build(self.variables)
      weighting = (method.weighting if isinstance(method, Composed)
                   else method if self.kind == "losses" else None)
      self._hold = apply.AbsentHold(
          optimizer, [self.split.task_variables(n) for n in names],
          list(weighting.trainable_variables) if weighting else [],
          len(names))
    # Method state that a skipped step must leave as it was (trainable
    # method variables only change through the optimizer).
    self._method_state = [v for v in method.variables if not v.trainable]
    self._clip_values = apply.clip_values(clip_by_value, self.variables)
    self.synchronized_bn = any(
        getattr(l, "synchronized", False)
        for l in self.model._flatten_layers(include_self=False))  # pylint: disable=protected-access
    self._step = self._distributed_step
    self._loop = self._run_loop
    if function:
      self._step = tf.function(self._step, jit_compile=jit_compile)
      # The loop holds the iterator (not compilable); each step inside it
      # is the compiled `_step`.
      self._loop = tf.function(self._loop, jit_compile=False)

  def __call__(self, batch):
    """One step on `batch` (a tuple of `batches_per_step` batches for
    methods that read several: `draw(iterator)` makes either)."""
    return self._step(batch)

  def loop(self, iterator, num_steps: int):
    """Runs `num_steps` steps inside one call (what TPUs need)."""
    return self._loop(iterator, tf.constant(num_steps, tf.int32))

  def draw(self, iterator):
    """The input of one step: a batch, or a tuple of `batches_per_step`
    independent batches for methods that read several (MoDo, SDMGrad)."""
    if self.batches_per_step == 1:
      return next(iterator)
    return tuple(next(iterator) for _ in range(self.batches_per_step))

  def _run_loop(self, iterator, num_steps):
    logs = self._step(self.draw(iterator))
    for _ in tf.range(num_steps - 1):
      logs = self._step(self.draw(iterator))
    return logs

  def _distributed_step(self, batch):
    if self.batches_per_step > 1:
      per_replica = self.strategy.run(self.multi_batch_step,
                                      args=tuple(batch))
    else:
      per_replica = self.strategy.run(self.replica_step, args=tuple(batch))
    # Every replica logs the same global values; read the first.
    return tf.nest.map_structure(
        lambda v: self.strategy.experimental_local_results(v)[0], per_replica)

  def replica_step(self, inputs, labels, sample_weights=None,
                   return_outputs: bool = False):
    """One step in a replica context; returns the global logs (and the
    replica's float32 outputs of the forward pass, before the update).

    `sample_weights` {task: [B]} (0 = unlabelled) make each task's loss the
    weighted mean over the global batch (engine/forward.py).
    """
    ctx = tf.distribute.get_replica_context()
    labels, example_weights = label_weights(self.tasks, labels,
                                            sample_weights)
    local_b = tf.cast(tf.shape(tf.nest.flatten(inputs)[0])[0], tf.float32)
    global_b = ctx.all_reduce(SUM, local_b)
    counts = label_counts(example_weights, local_b, ctx)
    here = present(counts)
    # Methods hear of absent tasks only when the batch can have any;
    # weightings only if they take `present` (Weighting.handles_absent).
    absent_kw = {} if here is None else {"present": here}
    heard = _heard(self.method, absent_kw)
    persistent = self.kind == "grads" or "grad_norms" in self.method.needs
    # Read before the method can assign: restored if the step is skipped.
    saved = [tf.identity(v.read_value()) for v in self._method_state]
    scale = (tf.identity(self.counters.loss_scale.read_value())
             if self.loss_scaling else None)

    # === 1. Forward and losses ===
    with tf.GradientTape(persistent=persistent) as tape:
      outputs, representation = forward(self.split, inputs,
                                        self.on_representation)
      contract.check_shapes(self.tasks, outputs, labels)
      shares = loss_shares(self.tasks, labels, outputs, global_b,
                           example_weights, counts)
      losses = ctx.all_reduce(SUM, tf.stop_gradient(tf.stack(shares)))
      if self.kind == "losses":
        weights = _mask(self.method(losses, self.optimizer.iterations,
                                    **heard), here)
        total = (tf.reduce_sum(weights * tf.stack(shares)) +
                 self.method.regularizer(**heard) /
                 ctx.num_replicas_in_sync)
        target = total if scale is None else total * scale
      else:
        target = shares if scale is None else [x * scale for x in shares]
        if isinstance(self.method, Composed):
          weighting = self.method.weighting
          told = _heard(weighting, absent_kw)
          loss_weights = _mask(weighting(losses, self.optimizer.iterations,
                                         **told), here)
          objective = (tf.reduce_sum(loss_weights *
                                     tf.stop_gradient(tf.stack(shares))) +
                       weighting.regularizer(**told) /
                       ctx.num_replicas_in_sync)
          composed = (loss_weights, objective, losses, outputs)
        else:
          composed = None
    bad_loss = tf.logical_not(tf.math.is_finite(losses))

    # === 2-3. Gradients by method kind; the method combines ===
    if self.kind == "losses":
      grads, bad_grad = gradients.loss_level(
          self, tape, target, shares, losses, labels, outputs, local_b,
          global_b, ctx, scale, here)
      total = ctx.all_reduce(SUM, tf.stop_gradient(total))
      # A non-finite loss explains its gradient; blame the rest only when
      # every loss is finite.
      bad_grad = tf.logical_and(bad_grad,
                                tf.logical_not(tf.reduce_any(bad_loss)))
    elif self.on_representation:
      grads, weights, bad_grad = gradients.representation_level(
          self, tape, target, representation, ctx, scale, here)
      weights = _mask(weights, here)
      total = tf.reduce_sum(weights * losses)
    else:
      grads, weights, bad_grad = gradients.jacobian_level(
          self, tape, target, inputs, labels, local_b, global_b, ctx, scale,
          composed, here, example_weights)
      weights = _mask(weights, here)
      total = tf.reduce_sum(weights * losses)
    del tape

    # === 4. Clip, apply or skip, count ===
    def losses_after():
      # The same batch at the new parameters (FAMO).
      after, _ = forward(self.split, inputs, False)
      return ctx.all_reduce(SUM, tf.stop_gradient(tf.stack(loss_shares(
          self.tasks, labels, after, global_b, example_weights, counts))))
    logs = self._finish(ctx, grads, weights, losses, total, bad_loss,
                        bad_grad, scale, saved, losses_after, heard, here)
    if return_outputs:
      return logs, tf.nest.map_structure(tf.stop_gradient, outputs)
    return logs

  def multi_batch_step(self, *batches):
    """One step of a method that reads K independent batches (MoDo,
    SDMGrad): per-task gradients on each, the method combines; logged
    losses are the K batches' mean."""
    ctx = tf.distribute.get_replica_context()
    saved = [tf.identity(v.read_value()) for v in self._method_state]
    scale = (tf.identity(self.counters.loss_scale.read_value())
             if self.loss_scaling else None)
    jacobians, owns, all_losses, bad_grad = [], [], [], False
    here = None
    for inputs, labels, *rest in batches:
      labels, example_weights = label_weights(self.tasks, labels,
                                              rest[0] if rest else None)
      local_b = tf.cast(tf.shape(tf.nest.flatten(inputs)[0])[0], tf.float32)
      global_b = ctx.all_reduce(SUM, local_b)
      counts = label_counts(example_weights, local_b, ctx)
      if counts is not None:
        # Absent from any of the K batches = absent from the step.
        here = (present(counts) if here is None
                else tf.logical_and(here, present(counts)))
      with tf.GradientTape(persistent=True) as tape:
        outputs, _ = forward(self.split, inputs, False)
        contract.check_shapes(self.tasks, outputs, labels)
        shares = loss_shares(self.tasks, labels, outputs, global_b,
                             example_weights, counts)
        target = shares if scale is None else [x * scale for x in shares]
      all_losses.append(ctx.all_reduce(SUM, tf.stop_gradient(
          tf.stack(shares))))
      jacobian, own, bad = gradients.stacked_jacobian(self, tape, target,
                                                      ctx, scale)
      del tape
      jacobians.append(jacobian)
      owns.append(own)
      bad_grad = tf.logical_or(bad_grad, bad)
    losses = tf.reduce_mean(tf.stack(all_losses), axis=0)
    bad_loss = tf.reduce_any(tf.logical_not(tf.math.is_finite(
        tf.stack(all_losses))), axis=0)
    grads, weights = gradients.multi_batch_level(self, jacobians, owns,
                                                 here)
    weights = _mask(weights, here)
    total = tf.reduce_sum(weights * losses)
    return self._finish(ctx, grads, weights, losses, total, bad_loss,
                        bad_grad, scale, saved, here=here)

  def _finish(self, ctx, grads, weights, losses, total, bad_loss, bad_grad,
              scale, saved, losses_after=None, absent_kw=None, here=None):
    """Phase 4: clip, apply or skip (absent tasks held where they were),
    roll back a skipped step's method state, count faults; returns the
    logs."""
    grads, grad_norm = apply.clip(grads, self.clip_global_norm,
                                  self._clip_values)
    finite = tf.logical_and(
        tf.logical_not(tf.reduce_any(bad_loss)),
        tf.logical_and(apply.all_finite(grads), tf.math.is_finite(total)))
    apply.apply_if(finite, self.optimizer,
                   [g / ctx.num_replicas_in_sync for g in grads],
                   self.variables, ctx, self._hold, here)
    if "losses_after" in self.method.needs:
      # Unconditional: the all-reduce can't sit in a cond; a skipped step's
      # state is rolled back just below.
      self.method.update_after(losses_after(), **(absent_kw or {}))
    for v, old in zip(self._method_state, saved):
      v.assign(tf.where(finite, v.read_value(), old))
    logs = {"total_loss": total, "grad_norm": grad_norm}
    for i, t in enumerate(self.tasks):
      logs[f"loss/{t.name}"] = losses[i]
      logs[f"weight/{t.name}"] = tf.stop_gradient(weights[i])
    logs.update(self.method.logs())
    logs.update(apply.count(self.counters, [t.name for t in self.tasks],
                            finite, bad_loss, bad_grad, scale))
    return logs


def _heard(method, absent_kw):
  """`absent_kw` for a method that takes `present=`, else {}."""
  return absent_kw if getattr(method, "handles_absent", False) else {}


def _mask(weights, here):
  """Weights with absent tasks' set to 0 (their loss is 0 anyway; the logs
  then show which tasks took part)."""
  if here is None:
    return weights
  return weights * tf.cast(here, weights.dtype)


def make_train_step(model, tasks: Sequence, method, optimizer, *,
                    strategy: Optional[tf.distribute.Strategy] = None,
                    clip_global_norm: Optional[float] = None,
                    clip_by_value: Optional[Dict[str, float]] = None,
                    per_sample_mode: str = "independent",
                    function: bool = True,
                    jit_compile: bool = False,
                    input_spec=None) -> TrainStep:
  """Builds the train step.

  Args:
    model: any built Keras model whose call returns {task: output}, or a
      `tfmtl.models.TaskSplit` of one (to give its split explicitly).
    tasks: the `Task`s to train; their names are model outputs.
    method: a `tfmtl.weighting.Weighting` or `tfmtl.aggregation.Aggregator`.
    optimizer: a Keras optimizer without its own clip options (they would
      clip per replica).
    strategy: the tf.distribute strategy the model was built under.
    clip_global_norm: clip the global gradient to this norm.
    clip_by_value: {regex on variable path: c}: clip those variables'
      gradients to [-c, c] after the method (the PRF reference clips its
      shared conv kernels to ±2e-6).
    per_sample_mode: "independent" or "coupled" for methods that need
      per-sample gradient variance.
    function: wrap in tf.function (False runs eagerly, for debugging).
    jit_compile: compile the step with XLA.
    input_spec: symbolic inputs for inferring a subclassed model's split
      (default: the shapes it was first called with).
  """
  return TrainStep(model, tasks, method, optimizer, strategy=strategy,
                   clip_global_norm=clip_global_norm,
                   clip_by_value=clip_by_value,
                   per_sample_mode=per_sample_mode, function=function,
                   jit_compile=jit_compile, input_spec=input_spec)
