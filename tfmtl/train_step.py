"""`make_train_step`: one train step for any model, tasks and method.

The step computes only what the method needs:

- loss-level methods (tfmtl.weighting): one backward pass of Σ w_t L_t (+ the
  method's regularizer); gradient norms of the last shared layer per task
  only for methods that need them;
- gradient-level methods (tfmtl.aggregation): per-task gradients of the shared
  variables stacked into J [T, n], per-sample gradient variance only for
  methods that need it, then `agg(J)`;
- methods on the representation (MGDA-UB): per-task gradients w.r.t. the
  model's shared representation Z only (backward passes through the heads),
  their Gramian [T, T], the method's weights w from it, then one backward
  pass through the shared layers seeded with Σ_t w_t ∇_Z L_t.

Distribution: every quantity a method sees is global. Per-replica loss shares
are Σ_i l_i / B_global, so their sum over replicas is the global mean; the
step all-reduces losses, J, statistics and gradients itself, clips the global
gradient, and hands the optimizer gradient / R because Keras 3's optimizer
sums gradients across replicas again inside `apply_gradients` (DESIGN.md §5).
The same code runs eagerly, under tf.function, under XLA and in
`strategy.run`; with no strategy the default replica context makes every
all-reduce an identity.

Numerical faults: when a global loss or the global gradient is not finite the
update is skipped: the optimizer is not applied (weights, slots and
`optimizer.iterations` stay put) and the method's state variables are put back
to their values before the step, so a method whose `__call__`/`update`
mutated state commits nothing. The decision is taken on all-reduced values,
so every replica takes it; it is a `tf.cond` in cross-replica context (what
`keras.optimizers.LossScaleOptimizer` does, because a cond whose branch calls
`merge_call` is not allowed in a replica context). `TrainStep.counters`
(checkpointed) counts attempted steps, skips and consecutive faults.

Mixed precision: outputs are cast to float32 before the losses; under the
"mixed_float16" Keras policy the step keeps a dynamic loss scale (×2 after
2000 finite steps, ÷2 on overflow) and multiplies the losses by it before
differentiating. Per-sample statistics are computed unscaled.
"""

import re
from typing import Dict, Mapping, Optional, Sequence

import keras
import tensorflow as tf

from tfmtl.aggregation.base import Aggregator
from tfmtl.errors import UserError
from tfmtl.weighting.base import Weighting, state

SUM = tf.distribute.ReduceOp.SUM
# Dynamic loss scaling (mixed_float16), as keras.mixed_precision.
INITIAL_LOSS_SCALE = 2.0 ** 15
LOSS_SCALE_PERIOD = 2000


def xla_problem(method) -> Optional[str]:
  """Why `method` can't be compiled with XLA, or None if it can.

  A method class that can't be compiled sets `xla_ok = False` and
  `xla_reason = "..."` (also said in its docstring).
  """
  if getattr(method, "xla_ok", True):
    return None
  return (f"method {type(method).__name__} can't be compiled with XLA: "
          f"{getattr(method, 'xla_reason', 'no reason given')}")


def _all_finite(tensors):
  return tf.reduce_all(tf.stack(
      [tf.reduce_all(tf.math.is_finite(t)) for t in tensors]))


def _float32(outputs):
  return tf.nest.map_structure(
      lambda o: tf.cast(o, tf.float32) if o.dtype.is_floating else o,
      outputs)


def _finite_or_zero(x):
  return tf.where(tf.math.is_finite(x), x, tf.zeros_like(x))


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


def _flatten(grads, variables):
  return tf.concat([
      tf.reshape(tf.zeros_like(v) if g is None else g, [-1])
      for g, v in zip(grads, variables)], axis=0)


def _unflatten(vector, variables):
  sizes = [int(tf.size(v)) for v in variables]
  parts = tf.split(vector, sizes)
  return [tf.reshape(p, v.shape) for p, v in zip(parts, variables)]


def _zeros_for_none(grads, variables):
  return [tf.zeros_like(v) if g is None else g
          for g, v in zip(grads, variables)]


def check_partition(model, task_names):
  """Every trainable variable is shared or belongs to exactly one task."""
  groups = [("shared", model.shared_variables)] + [
      (t, model.task_variables(t)) for t in task_names]
  owner = {}
  for group, variables in groups:
    for v in variables:
      if id(v) in owner:
        raise UserError(f"model {model.name}: variable {v.path} is in both "
                        f"{owner[id(v)]!r} and {group!r}")
      owner[id(v)] = group
  missing = [v.path for v in model.trainable_variables if id(v) not in owner]
  if missing:
    raise UserError(f"model {model.name}: variables in no group: {missing}")


class TrainStep:
  """A built train step. Call it with a batch `(inputs, labels)` (a
  distributed batch under a strategy) or use `loop(iterator, n)` to run n
  steps in one call. Both return a dict of global scalars (task losses and
  weights, total loss, gradient norm, the method's own logs)."""

  def __init__(self, model, tasks, method, optimizer, strategy=None,
               clip_global_norm: Optional[float] = None,
               clip_by_value: Optional[Mapping[str, float]] = None,
               per_sample_mode: str = "independent",
               function: bool = True, jit_compile: bool = False):
    self.model, self.tasks, self.method = model, list(tasks), method
    self.optimizer = optimizer
    self.strategy = strategy or tf.distribute.get_strategy()
    self.clip_global_norm = clip_global_norm
    self.clip_by_value = dict(clip_by_value or {})
    self.per_sample_mode = per_sample_mode
    names = [t.name for t in self.tasks]
    missing = [n for n in names if n not in model.task_names]
    if missing:
      raise UserError(f"tasks {missing} are not outputs of model "
                      f"{model.name} (it outputs {model.task_names})")
    if isinstance(method, Weighting):
      self.kind = "losses"
    elif isinstance(method, Aggregator):
      self.kind = "grads"
    else:
      raise UserError(f"{method!r} is neither a weighting nor an aggregation "
                      "method")
    self.on_representation = "representation" in method.needs
    problem = xla_problem(method)
    if problem and (jit_compile or isinstance(
        self.strategy, (tf.distribute.TPUStrategy,))):
      raise UserError(f"{problem}; run it without jit_compile and not on "
                      "TPU, or choose another method")
    if (jit_compile and self.strategy.num_replicas_in_sync > 1 and
        not isinstance(self.strategy, tf.distribute.TPUStrategy)):
      # Compiled whole, the step is one XLA cluster reading every replica's
      # variables, which XLA can't do across devices ("Trying to access
      # resource ... located in device CPU:1"); compiled per replica, the
      # shared trace captures one replica's variables. Measured with TF 2.21
      # on logical CPUs (bench/scaling.py).
      raise UserError(
          f"jit_compile with {type(self.strategy).__name__} over "
          f"{self.strategy.num_replicas_in_sync} replicas is not supported: "
          "use one device, TPUStrategy, or leave jit_compile off")
    policy = keras.mixed_precision.global_policy().name
    self.loss_scaling = policy == "mixed_float16"
    with self.strategy.scope():
      self.counters = Counters(len(self.tasks))
      if self.kind == "grads":
        check_partition(model, names)
        if self.on_representation and not model.has_representation:
          model.call_split(None)  # raises the UserError that says why
        self.shared = list(model.shared_variables)
        self.task_vars = [list(model.task_variables(n)) for n in names]
        n = sum(int(tf.size(v)) for v in self.shared)
        method.build(self.tasks, num_params=n,
                     shared_variables=self.shared)
        self.variables = self.shared + [v for vs in self.task_vars for v in vs]
      else:
        method.build(self.tasks)
        self.variables = (list(model.trainable_variables) +
                          list(method.trainable_variables))
      # Built inside the scope before the first step: no second trace.
      optimizer.build(self.variables)
    # Method state that a skipped step must leave as it was (trainable
    # method variables only change through the optimizer).
    self._method_state = [v for v in method.variables if not v.trainable]
    self._clip_values = self._match_clip_patterns()
    self._synchronized_bn = any(
        getattr(l, "synchronized", False)
        for l in model._flatten_layers(include_self=False))  # pylint: disable=protected-access
    self._step = self._distributed_step
    self._loop = self._run_loop
    if function:
      self._step = tf.function(self._step, jit_compile=jit_compile)
      # The loop holds the iterator (not compilable); each step inside it
      # is the compiled `_step`.
      self._loop = tf.function(self._loop, jit_compile=False)

  def _match_clip_patterns(self):
    values = [None] * len(self.variables)
    for pattern, value in self.clip_by_value.items():
      hits = [i for i, v in enumerate(self.variables)
              if re.search(pattern, v.path)]
      if not hits:
        raise UserError(f"clip_by_value pattern {pattern!r} matches no "
                        "trainable variable; variable paths look like "
                        f"{self.variables[0].path!r}")
      for i in hits:
        values[i] = float(value)
    return values

  # --- the step -----------------------------------------------------------

  def __call__(self, batch):
    return self._step(batch)

  def loop(self, iterator, num_steps: int):
    """Runs `num_steps` steps inside one call (what TPUs need)."""
    return self._loop(iterator, tf.constant(num_steps, tf.int32))

  def _run_loop(self, iterator, num_steps):
    logs = self._step(next(iterator))
    for _ in tf.range(num_steps - 1):
      logs = self._step(next(iterator))
    return logs

  def _distributed_step(self, batch):
    per_replica = self.strategy.run(self._replica_step, args=tuple(batch))
    # Every replica logs the same global values; read the first.
    return tf.nest.map_structure(
        lambda v: self.strategy.experimental_local_results(v)[0], per_replica)

  def _replica_step(self, inputs, labels):
    ctx = tf.distribute.get_replica_context()
    replicas = ctx.num_replicas_in_sync
    local_b = tf.cast(tf.shape(tf.nest.flatten(inputs)[0])[0], tf.float32)
    global_b = ctx.all_reduce(SUM, local_b)
    step = self.optimizer.iterations
    needs = self.method.needs
    persistent = self.kind == "grads" or "grad_norms" in needs
    # Read before the method can assign: restored if the step is skipped.
    saved = [tf.identity(v.read_value()) for v in self._method_state]
    scale = (tf.identity(self.counters.loss_scale.read_value())
             if self.loss_scaling else None)
    with tf.GradientTape(persistent=persistent) as tape:
      if self.on_representation:
        representation, heads = self.model.call_split(inputs, training=True)
        outputs = _float32(heads(representation))
      else:
        outputs = _float32(self.model(inputs, training=True))
      # Kept as a list: slicing a stacked tensor after the tape closes
      # would not be recorded, and per-task gradients would be None.
      task_shares = [
          tf.reduce_sum(tf.cast(t.loss(labels[t.name], outputs[t.name]),
                                tf.float32)) / global_b
          for t in self.tasks]
      shares = tf.stack(task_shares)
      losses = ctx.all_reduce(SUM, tf.stop_gradient(shares))
      if self.kind == "losses":
        weights = self.method(losses, step)
        total = (tf.reduce_sum(weights * shares) +
                 self.method.regularizer() / replicas)
        target = total if scale is None else total * scale
      else:
        target = (task_shares if scale is None
                  else [x * scale for x in task_shares])
    bad_loss = tf.logical_not(tf.math.is_finite(losses))
    if self.kind == "losses":
      grads, bad_grad = self._loss_level(tape, target, task_shares, losses,
                                         step, labels, outputs, local_b,
                                         global_b, ctx, scale)
      total = ctx.all_reduce(SUM, tf.stop_gradient(total))
      # A non-finite loss explains its gradient; blame the rest only when
      # every loss is finite.
      bad_grad = tf.logical_and(bad_grad,
                                tf.logical_not(tf.reduce_any(bad_loss)))
    else:
      if self.on_representation:
        grads, weights, bad_grad = self._representation_level(
            tape, target, representation, ctx, scale)
      else:
        grads, weights, bad_grad = self._grad_level(
            tape, target, inputs, labels, local_b, global_b, ctx, scale)
      total = tf.reduce_sum(weights * losses)
    del tape
    grads, grad_norm = self._clip(grads)
    finite = tf.logical_and(
        tf.logical_not(tf.reduce_any(bad_loss)),
        tf.logical_and(_all_finite(grads), tf.math.is_finite(total)))
    self._apply_if(finite, [g / replicas for g in grads], ctx)
    for v, old in zip(self._method_state, saved):
      v.assign(tf.where(finite, v.read_value(), old))
    logs = {"total_loss": total, "grad_norm": grad_norm}
    for i, t in enumerate(self.tasks):
      logs[f"loss/{t.name}"] = losses[i]
      logs[f"weight/{t.name}"] = tf.stop_gradient(weights[i])
    logs.update(self.method.logs())
    logs.update(self._count(finite, bad_loss, bad_grad, scale))
    return logs

  def _apply_if(self, finite, grads, ctx):
    """Applies the optimizer only when `finite` (the same on every replica).

    With merge_call strategies (MirroredStrategy) the cond must sit in
    cross-replica context, since `apply_gradients` calls `merge_call`.
    """
    def apply(gs):
      self.optimizer.apply_gradients(zip(gs, self.variables))

    if tf.__internal__.distribute.strategy_supports_no_merge_call():
      tf.cond(finite, lambda: apply(grads), lambda: None)
      return

    def cross_replica(distribution, finite, grads):
      first = distribution.experimental_local_results(finite)[0]
      tf.cond(first, lambda: distribution.extended.call_for_each_replica(
          apply, args=(grads,)), lambda: None)
    ctx.merge_call(cross_replica, args=(finite, grads))

  def _count(self, finite, bad_loss, bad_grad, scale):
    """Updates `counters` from global values; returns their logs."""
    c = self.counters
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
    for i, t in enumerate(self.tasks):
      # 1: loss, 2: gradient, 3: both were non-finite at the last skip.
      logs[f"nonfinite/{t.name}"] = codes[i]
    return logs

  def _loss_level(self, tape, target, shares, losses, step, labels, outputs,
                  local_b, global_b, ctx, scale):
    grads = tape.gradient(target, self.variables)
    grads = ctx.all_reduce(SUM, _zeros_for_none(grads, self.variables))
    if scale is not None:
      grads = [g / scale for g in grads]
    # One backward pass of Σ w_t L_t: a bad gradient can't be pinned on a
    # task, so all are named.
    bad_grad = tf.fill([len(self.tasks)], tf.logical_not(_all_finite(grads)))
    stats = {}
    if "grad_norms" in self.method.needs:
      watched = self.model.last_shared_layer.trainable_variables
      per_task = [_flatten(tape.gradient(shares[i], watched), watched)
                  for i in range(len(self.tasks))]
      per_task = ctx.all_reduce(SUM, tf.stack(per_task))
      stats["grad_norms"] = tf.norm(per_task, axis=1)
    if "kpis" in self.method.needs:
      kpis = tf.stack([
          tf.cast(t.kpi(labels[t.name], outputs[t.name]), tf.float32)
          for t in self.tasks])
      stats["kpis"] = ctx.all_reduce(SUM, kpis * local_b) / global_b
    self.method.update(losses, step, **stats)
    return grads, bad_grad

  def _grad_level(self, tape, shares, inputs, labels, local_b, global_b, ctx,
                  scale):
    rows, own = [], []
    for i, vs in enumerate(self.task_vars):
      g = tape.gradient(shares[i], self.shared + vs)
      rows.append(_flatten(g[:len(self.shared)], self.shared))
      own.append(_zeros_for_none(g[len(self.shared):], vs))
    jacobian, own = ctx.all_reduce(SUM, (tf.stack(rows), own))
    if scale is not None:
      jacobian = jacobian / scale
      own = [[x / scale for x in g] for g in own]
      shares = [x / scale for x in shares]
    bad_grad = tf.logical_not(tf.stack([
        tf.logical_and(tf.reduce_all(tf.math.is_finite(jacobian[i])),
                       _all_finite(own[i]) if own[i] else True)
        for i in range(len(own))]))
    # A method's solver must not see NaN (an iterative one could spin);
    # the step is skipped anyway when anything here is non-finite.
    jacobian = _finite_or_zero(jacobian)
    extra = {}
    if "variance" in self.method.needs:
      due = getattr(self.method, "variance_due", lambda: None)()
      extra["variance"] = _finite_or_zero(
          self._variance(inputs, labels, local_b, global_b, ctx, due))
    if "losses" in self.method.needs:
      extra["losses"] = _finite_or_zero(
          ctx.all_reduce(SUM, tf.stop_gradient(tf.stack(shares))))
    if "step" in self.method.needs:
      extra["step"] = self.optimizer.iterations
    combined = self.method(jacobian, **extra)
    weights = self.method.weights_for(jacobian)
    grads = _unflatten(combined, self.shared)
    for i, g in enumerate(own):
      grads += [weights[i] * x for x in g]
    return grads, weights, bad_grad

  def _representation_level(self, tape, shares, representation, ctx, scale):
    """Weights from the representation Jacobian J_Z; one shared backward.

    Only the T×T Gramian of J_Z is all-reduced: J_Z's columns are
    per-example blocks, so the global Gramian is the sum of the replicas'.
    """
    z = tf.nest.flatten(representation)
    z_grads, rows, own = [], [], []
    for i, vs in enumerate(self.task_vars):
      g = tape.gradient(shares[i], z + vs)
      z_grads.append(_zeros_for_none(g[:len(z)], z))
      rows.append(tf.cast(_flatten(z_grads[-1], z), tf.float32))
      own.append(_zeros_for_none(g[len(z):], vs))
    local = tf.stack(rows)
    gram, own = ctx.all_reduce(
        SUM, (tf.matmul(local, local, transpose_b=True), own))
    if scale is not None:
      gram = gram / (scale * scale)
      own = [[x / scale for x in g] for g in own]
    bad_grad = tf.logical_not(tf.stack([
        tf.logical_and(tf.reduce_all(tf.math.is_finite(gram[i])),
                       _all_finite(own[i]) if own[i] else True)
        for i in range(len(own))]))
    alpha = self.method.weights_from_gramian(_finite_or_zero(gram))
    seed = [tf.add_n([tf.cast(alpha[i], g[k].dtype) * g[k]
                      for i, g in enumerate(z_grads)])
            for k in range(len(z))]
    shared = tape.gradient(z, self.shared, output_gradients=seed)
    shared = ctx.all_reduce(SUM, _zeros_for_none(shared, self.shared))
    if scale is not None:
      shared = [g / scale for g in shared]
    weights = self.method.weights_for(gram)
    grads = list(shared)
    for i, g in enumerate(own):
      grads += [weights[i] * x for x in g]
    return grads, weights, bad_grad

  def _variance(self, inputs, labels, local_b, global_b, ctx, due=None):
    """Per-sample gradient variance [T, n] of the shared variables, global.

    Replicas combine exactly: M = Σ_r b_r m_r / B and
    V = Σ_r b_r (v_r + (m_r − M)²) / B. With `due` (a bool tensor, the same
    on every replica) the local pass runs only when it is true and zeros
    stand in otherwise; the all-reduces stay outside the cond, since a cond
    branch may not call merge_call in a replica context.
    """
    from tfmtl import per_sample  # pylint: disable=g-import-not-at-top
    wanted = getattr(self.method, "variance_tasks", None)
    n = sum(int(tf.size(v)) for v in self.shared)
    tasks = [t for t in self.tasks if wanted is None or t.name in wanted]

    def local():
      # One pass for all tasks: the forwards are shared.
      pairs = per_sample.gradient_moments_of_losses(
          self.model, inputs, {t.name: labels[t.name] for t in tasks},
          [lambda out, lab, t=t: t.loss(lab[t.name], _float32(out[t.name]))
           for t in tasks],
          self.shared, mode=self.per_sample_mode)
      return tf.stack([
          tf.stack([_flatten(mean, self.shared), _flatten(var, self.shared)])
          for mean, var in pairs])  # [T', 2, n]

    if due is None or self._synchronized_bn:
      # Synchronized BatchNorm all-reduces inside the pass: no cond.
      moments = local()
    else:
      moments = tf.cond(due, local, lambda: tf.zeros([len(tasks), 2, n]))
    m, v = moments[:, 0], moments[:, 1]
    if ctx.num_replicas_in_sync > 1:
      big_m = ctx.all_reduce(SUM, m * local_b) / global_b
      v = ctx.all_reduce(SUM, (v + tf.square(m - big_m)) * local_b) / global_b
    row_of = {t.name: k for k, t in enumerate(tasks)}
    return tf.stack([v[row_of[t.name]] if t.name in row_of else tf.zeros([n])
                     for t in self.tasks])

  def _clip(self, grads):
    norm = tf.linalg.global_norm(grads)
    if self.clip_global_norm:
      grads, _ = tf.clip_by_global_norm(grads, self.clip_global_norm,
                                        use_norm=norm)
    grads = [g if c is None else tf.clip_by_value(g, -c, c)
             for g, c in zip(grads, self._clip_values)]
    return grads, norm


def make_train_step(model, tasks: Sequence, method, optimizer, *,
                    strategy: Optional[tf.distribute.Strategy] = None,
                    clip_global_norm: Optional[float] = None,
                    clip_by_value: Optional[Dict[str, float]] = None,
                    per_sample_mode: str = "independent",
                    function: bool = True,
                    jit_compile: bool = False) -> TrainStep:
  """Builds the train step.

  Args:
    model: a `tfmtl.models.MultiTaskModel` (built: call it once first).
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
  """
  return TrainStep(model, tasks, method, optimizer, strategy=strategy,
                   clip_global_norm=clip_global_norm,
                   clip_by_value=clip_by_value,
                   per_sample_mode=per_sample_mode, function=function,
                   jit_compile=jit_compile)
