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

import dataclasses
from typing import Dict, Optional, Sequence

import keras
import tensorflow as tf

from tfmtl import contract
from tfmtl.aggregation.base import Aggregator
from tfmtl.aggregation.composed import Composed
from tfmtl.engine import apply, gradients, jit_choice
from tfmtl.engine.forward import (SUM, forward, label_counts, label_weights,
                                  loss_shares, present)
from tfmtl.engine.gradients import Variables, size
from tfmtl.errors import UserError
from tfmtl.method_base import Need, StepInputs
from tfmtl.models.split import resolve
from tfmtl.weighting.base import Weighting


def xla_problem(method) -> Optional[str]:
  """Why `method` can't be compiled with XLA, or None if it can (a method
  class that can't sets `xla_ok = False` and `xla_reason`)."""
  if method.xla_ok:
    return None
  return (f"method {type(method).__name__} can't be compiled with XLA: "
          f"{method.xla_reason or 'no reason given'}")


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


def _kind(method) -> str:
  if isinstance(method, Weighting):
    return "losses"
  if isinstance(method, Aggregator):
    return "grads"
  raise UserError(f"{method!r} is neither a weighting nor an aggregation "
                  "method")


def _check_method(method):
  """Combinations of needs the step can't serve."""
  if {Need.GRAMIAN, Need.REPRESENTATION} <= method.needs:
    raise UserError(f"{type(method).__name__}: gramian_mode and rep_grad "
                    "are two ways to avoid J; choose one")
  if isinstance(method, Composed) and Need.GRAMIAN in method.needs:
    raise UserError(f"{method.name}: an aggregation in gramian_mode can't "
                    "be composed with a weighting; use it alone, or compose "
                    "without gramian_mode")
  if method.batches_per_step > 1 and (
      Need.REPRESENTATION in method.needs or method.needs - {Need.STEP}):
    raise UserError(f"{type(method).__name__} reads several batches per "
                    "step and can't also read "
                    f"{sorted(n.value for n in method.needs)}")


@dataclasses.dataclass
class _Batch:
  """One replica's batch, with what the loss shares need."""
  inputs: object
  labels: dict
  example_weights: Optional[dict]
  local_b: tf.Tensor
  global_b: tf.Tensor
  counts: Optional[tf.Tensor]
  here: Optional[tf.Tensor]  # [T] bool present, None: every task


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
               function: bool = True, jit_compile=False,
               input_spec=None):
    # === The method and where it runs ===
    self.tasks, self.method = list(tasks), method
    self.optimizer = optimizer
    self.strategy = strategy or tf.distribute.get_strategy()
    self.clip_global_norm = clip_global_norm
    self.per_sample_mode = per_sample_mode
    jit_compile = jit_choice.resolve(jit_compile)
    self.jit_compile = jit_compile
    # XLA has no in-place row update: J is stacked there (gradients.py).
    self.in_place = not (jit_compile is True or isinstance(
        self.strategy, tf.distribute.TPUStrategy))
    self.kind = _kind(method)
    self.on_representation = Need.REPRESENTATION in method.needs
    self.batches_per_step = int(method.batches_per_step)
    _check_method(method)
    _check_strategy(method, self.strategy, jit_compile is True)
    self.split = resolve(model, [t.name for t in self.tasks],
                         input_spec=input_spec)
    self.model = self.split.model
    self.loss_scaling = (
        keras.mixed_precision.global_policy().name == "mixed_float16")
    # === State, built inside the scope ===
    with self.strategy.scope():
      self.counters = apply.Counters(len(self.tasks))
      self.parts = self._build_method()
      self.variables = self.parts.trained
      # Built inside the scope before the first step: no second trace.
      optimizer.build(self.variables)
      self._hold = apply.AbsentHold(
          optimizer, self.parts.tasks,
          list(self.weighting.trainable_variables) if self.weighting else [],
          len(self.tasks))
    # Method state that a skipped step must leave as it was (trainable
    # method variables only change through the optimizer).
    self._method_state = [v for v in method.variables if not v.trainable]
    self._clip_values = apply.clip_values(clip_by_value, self.variables)
    self.synchronized_bn = any(
        getattr(l, "synchronized", False)
        for l in self.model._flatten_layers(include_self=False))  # pylint: disable=protected-access
    # === The functions ===
    self._step = self._distributed_step
    self._loop = self._run_loop
    self.chooser = None
    if function:
      if jit_compile == "auto":
        self._step = self._auto_step()
      else:
        self._step = self._compiled(jit_compile is True)
      # The loop holds the iterator (not compilable); each step inside it
      # is the compiled `_step`.
      self._loop = tf.function(self._loop, jit_compile=False)

  def _compiled(self, xla: bool):
    # No autograph: the step's code uses tf.cond / tf.while_loop where it
    # branches on tensors (as it must under Keras' fit, which converts
    # nothing of ours), and converting its ~60 functions cost about half
    # of the first step's time.
    return tf.function(self._distributed_step, jit_compile=xla,
                       autograph=False)

  def in_form(self, fn, xla: bool):
    """`fn` (a step function) run with the J layout of its form: rows
    stacked under XLA, written in place otherwise (read while tracing)."""
    in_place = not xla and self.in_place

    def run(*args):
      before, self.in_place = self.in_place, in_place
      try:
        return fn(*args)
      finally:
        self.in_place = before
    return run

  def xla_unavailable(self) -> str:
    """Why XLA can't run this step ("" when it can)."""
    if xla_problem(self.method):
      return xla_problem(self.method)
    if (self.strategy.num_replicas_in_sync > 1 and
        not isinstance(self.strategy, tf.distribute.TPUStrategy)):
      return (f"XLA doesn't compile a step over "
              f"{self.strategy.num_replicas_in_sync} replicas of "
              f"{type(self.strategy).__name__}")
    return ""

  def _auto_step(self):
    if isinstance(self.strategy, tf.distribute.TPUStrategy):
      return self._compiled(True)  # TPUs compile every step
    why = self.xla_unavailable()
    xla = None if why else self.in_form(self._compiled(True), True)

    def chosen(form, unused_message):
      self._step = self.chooser.xla if form == jit_choice.XLA else \
          self.chooser.plain
    self.chooser = jit_choice.Chooser(
        self.in_form(self._compiled(False), False), xla,
        self.counters.xla, on_choice=chosen, why=why)
    return self.chooser

  @property
  def weighting(self) -> Optional[Weighting]:
    """The loss weighting of the method (itself, a composition's part, or
    None for an aggregator alone)."""
    if isinstance(self.method, Composed):
      return self.method.weighting
    return self.method if self.kind == "losses" else None

  # Kept for code that read the lists off the step.
  @property
  def shared(self):
    """The shared variables the step trains (`parts.shared`)."""
    return self.parts.shared

  @property
  def task_vars(self):
    """{task: its own variables the step trains} (`parts.tasks`)."""
    return self.parts.tasks

  def _build_method(self) -> Variables:
    """Builds the method on the tasks; the variables the step trains."""
    split, method = self.split, self.method
    tasks = [split.task_variables(t.name) for t in self.tasks]
    if self.kind == "losses":
      method.build(self.tasks)
      return Variables(
          shared=list(split.shared_variables), tasks=tasks,
          trained=(list(split.trainable_variables) +
                   list(method.trainable_variables)),
          watched=(split.watched_variables
                   if Need.GRAD_NORMS in method.needs else []))
    if self.on_representation:
      split.check_representation()
    shared = list(split.shared_variables)
    method.build(self.tasks, num_params=sum(size(v) for v in shared),
                 shared_variables=shared)
    trained = shared + [v for vs in tasks for v in vs]
    if isinstance(method, Composed):  # the weighting's own variables
      trained += list(method.weighting.trainable_variables)
    return Variables(shared=shared, tasks=tasks, trained=trained)

  def __call__(self, batch):
    """One step on `batch` (a tuple of `batches_per_step` batches for
    methods that read several: `draw(iterator)` makes either)."""
    return self._step(batch)

  def loop(self, iterator, num_steps: int):
    """Runs `num_steps` steps inside one call (what TPUs need)."""
    logs = None
    while self._step is self.chooser and num_steps > 0:
      logs = self(self.draw(iterator))  # "auto" times single steps first
      num_steps -= 1
    if num_steps == 0:
      return logs
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

  # --------------------------------------------------------- the phases

  def _batch(self, ctx, inputs, labels, sample_weights) -> _Batch:
    labels, example_weights = label_weights(self.tasks, labels,
                                            sample_weights)
    local_b = tf.cast(tf.shape(tf.nest.flatten(inputs)[0])[0], tf.float32)
    global_b = ctx.all_reduce(SUM, local_b)
    counts = label_counts(example_weights, local_b, ctx)
    return _Batch(inputs, labels, example_weights, local_b, global_b,
                  counts, present(counts))

  def _inputs(self, method, here, **computed) -> StepInputs:
    """What `method` declared, from what the step computed: the optimizer
    step for Need.STEP, the others as given; and `present` when the batch
    can have absent tasks -- always for an aggregator (its `combine` leaves
    them out, aggregation/absent.py), for a weighting only if it takes
    `present` (handles_absent)."""
    wanted = {n.value for n in method.needs}
    fields = {k: v for k, v in computed.items() if k in wanted}
    if Need.STEP in method.needs:
      fields["step"] = self.optimizer.iterations
    if here is not None and (method.handles_absent or
                             isinstance(method, Aggregator)):
      fields["present"] = here
    return StepInputs(**fields)

  def _snapshot(self):
    """(method state, loss scale) before the step: restored if skipped."""
    saved = [tf.identity(v.read_value()) for v in self._method_state]
    scale = (tf.identity(self.counters.loss_scale.read_value())
             if self.loss_scaling else None)
    return saved, scale

  def _weights_and_objective(self, weighting, shares, losses, here, ctx):
    """(weights [T], Σ_t w_t L_t + regularizer / R) of a weighting; the
    shares enter the objective as they are (the loss level) or held
    constant (a composition's weighting learns from it alone)."""
    heard = self._inputs(weighting, here).kwargs()
    weights = _mask(weighting(losses, self.optimizer.iterations, **heard),
                    here)
    stacked = tf.stack(shares)
    if weighting is not self.method:
      stacked = tf.stop_gradient(stacked)
    objective = (tf.reduce_sum(weights * stacked) +
                 weighting.regularizer(**heard) / ctx.num_replicas_in_sync)
    return weights, objective

  def replica_step(self, inputs, labels, sample_weights=None,
                   return_outputs: bool = False):
    """One step in a replica context; returns the global logs (and the
    replica's float32 outputs of the forward pass, before the update).

    `sample_weights` {task: [B]} (0 = unlabelled) make each task's loss the
    weighted mean over the global batch (engine/forward.py).
    """
    ctx = tf.distribute.get_replica_context()
    b = self._batch(ctx, inputs, labels, sample_weights)
    persistent = (self.kind == "grads" or
                  Need.GRAD_NORMS in self.method.needs)
    saved, scale = self._snapshot()

    # === 1. Forward and losses (and the weighting's objective) ===
    with tf.GradientTape(persistent=persistent) as tape:
      outputs, representation = forward(self.split, inputs,
                                        self.on_representation)
      contract.check_shapes(self.tasks, outputs, b.labels)
      shares = loss_shares(self.tasks, b.labels, outputs, b.global_b,
                           b.example_weights, b.counts)
      losses = ctx.all_reduce(SUM, tf.stop_gradient(tf.stack(shares)))
      weighting = self.weighting
      if weighting is not None:
        weights, objective = self._weights_and_objective(
            weighting, shares, losses, b.here, ctx)
      target = objective if self.kind == "losses" else shares
      if scale is not None:
        target = (target * scale if self.kind == "losses"
                  else [x * scale for x in target])
    bad_loss = tf.logical_not(tf.math.is_finite(losses))

    # === 2-3. Gradients by method kind; the method combines ===
    grads, weights, bad_grad, total = self._gradients(
        tape, target, shares, representation, b, outputs, losses,
        weighting, weights if weighting is not None else None,
        objective if weighting is not None else None, ctx, scale)
    del tape
    if self.kind == "losses":
      # A non-finite loss explains its gradient; blame the rest only when
      # every loss is finite.
      bad_grad = tf.logical_and(bad_grad,
                                tf.logical_not(tf.reduce_any(bad_loss)))

    # === 4. Clip, apply or skip, count ===
    def losses_after():
      # The same batch at the new parameters (FAMO).
      after, _ = forward(self.split, inputs, False)
      return ctx.all_reduce(SUM, tf.stop_gradient(tf.stack(loss_shares(
          self.tasks, b.labels, after, b.global_b, b.example_weights,
          b.counts))))
    logs = self._finish(ctx, grads, weights, losses, total, bad_loss,
                        bad_grad, scale, saved, losses_after, b.here)
    if return_outputs:
      return logs, tf.nest.map_structure(tf.stop_gradient, outputs)
    return logs

  def _gradients(self, tape, target, shares, representation, b, outputs,
                 losses, weighting, loss_weights, objective, ctx, scale):
    """Phase 2-3 by the method's kind; returns (grads, weights, bad_grad,
    the logged total loss)."""
    method, step = self.method, self.optimizer.iterations
    if self.kind == "losses":
      kpis = (gradients.kpis(self.tasks, b.labels, outputs, b.local_b,
                             b.global_b, ctx)
              if Need.KPIS in method.needs else None)
      grads, bad_grad = gradients.loss_level(
          tape, target, shares, method, self.parts,
          self._inputs(method, b.here, kpis=kpis), losses, step, ctx, scale)
      return (grads, loss_weights, bad_grad,
              ctx.all_reduce(SUM, tf.stop_gradient(objective)))
    computed = dict(losses=gradients.finite_or_zero(losses))
    if Need.VARIANCE in method.needs:
      computed["variance"] = gradients.finite_or_zero(gradients.variance(
          self.model, self.tasks, self.parts.shared, self.per_sample_mode,
          b.inputs, b.labels, b.local_b, b.global_b, ctx,
          method.variance_due(), method.variance_tasks(),
          b.example_weights, self.synchronized_bn))
    if weighting is not None:
      computed["loss_weights"] = tf.stop_gradient(loss_weights)
    inputs = self._inputs(method, b.here, **computed)
    if self.on_representation:
      grads, weights, bad_grad = gradients.representation_level(
          tape, target, representation, method, self.parts, inputs, ctx,
          scale)
    elif Need.GRAMIAN in method.needs:
      grads, weights, bad_grad = gradients.gramian_level(
          tape, target, method, self.parts, inputs, ctx, scale,
          method.options["gramian_block_mib"] * 2.0 ** 20, self.in_place)
    else:
      grads, weights, bad_grad = gradients.jacobian_level(
          tape, target, method, self.parts, inputs, ctx, scale,
          self.in_place)
    if weighting is not None:  # a composition's weighting learns and moves
      kpis = (gradients.kpis(self.tasks, b.labels, outputs, b.local_b,
                             b.global_b, ctx)
              if Need.KPIS in weighting.needs else None)
      grads += gradients.weighting_part(
          tape, weighting, objective, losses, step,
          self._inputs(weighting, b.here, kpis=kpis), ctx)
    weights = _mask(weights, b.here)
    return grads, weights, bad_grad, tf.reduce_sum(weights * losses)

  def multi_batch_step(self, *batches):
    """One step of a method that reads K independent batches (MoDo,
    SDMGrad): per-task gradients on each, the method combines; logged
    losses are the K batches' mean."""
    ctx = tf.distribute.get_replica_context()
    saved, scale = self._snapshot()
    jacobians, owns, all_losses, bad_grad = [], [], [], False
    here = None
    for inputs, labels, *rest in batches:
      b = self._batch(ctx, inputs, labels, rest[0] if rest else None)
      if b.here is not None:
        # Absent from any of the K batches = absent from the step.
        here = b.here if here is None else tf.logical_and(here, b.here)
      with tf.GradientTape(persistent=True) as tape:
        outputs, _ = forward(self.split, inputs, False)
        contract.check_shapes(self.tasks, outputs, b.labels)
        shares = loss_shares(self.tasks, b.labels, outputs, b.global_b,
                             b.example_weights, b.counts)
        target = shares if scale is None else [x * scale for x in shares]
      all_losses.append(ctx.all_reduce(SUM, tf.stop_gradient(
          tf.stack(shares))))
      jacobian, own, bad = gradients.stacked_jacobian(
          tape, target, self.parts, ctx, scale, self.in_place)
      del tape
      jacobians.append(jacobian)
      owns.append(own)
      bad_grad = tf.logical_or(bad_grad, bad)
    losses = tf.reduce_mean(tf.stack(all_losses), axis=0)
    bad_loss = tf.reduce_any(tf.logical_not(tf.math.is_finite(
        tf.stack(all_losses))), axis=0)
    grads, weights = gradients.multi_batch_level(
        self.method, self.parts, jacobians, owns,
        self._inputs(self.method, here))
    weights = _mask(weights, here)
    total = tf.reduce_sum(weights * losses)
    return self._finish(ctx, grads, weights, losses, total, bad_loss,
                        bad_grad, scale, saved, here=here)

  def _finish(self, ctx, grads, weights, losses, total, bad_loss, bad_grad,
              scale, saved, losses_after=None, here=None):
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
    if Need.LOSSES_AFTER in self.method.needs:
      # Unconditional: the all-reduce can't sit in a cond; a skipped step's
      # state is rolled back just below.
      self.method.update_after(
          losses_after(), **self._inputs(self.method, here).kwargs())
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
                    jit_compile=False,
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
    jit_compile: compile the step with XLA (True), not (False), or "auto":
      time both forms on the first steps and keep the faster (it says which;
      engine/jit_choice.py). Whether XLA pays depends on the network and
      the device: on this project's 2-core CPU it was slower for every
      network measured (BENCHMARKS.md "XLA or not").
    input_spec: symbolic inputs for inferring a subclassed model's split
      (default: the shapes it was first called with).
  """
  return TrainStep(model, tasks, method, optimizer, strategy=strategy,
                   clip_global_norm=clip_global_norm,
                   clip_by_value=clip_by_value,
                   per_sample_mode=per_sample_mode, function=function,
                   jit_compile=jit_compile, input_spec=input_spec)
