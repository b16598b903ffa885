"""`make_train_step`: one train step for any model, tasks and method.

The step computes only what the method needs:

- loss-level methods (tfmtl.weighting): one backward pass of Σ w_t L_t (+ the
  method's regularizer); gradient norms of the last shared layer per task
  only for methods that need them;
- gradient-level methods (tfmtl.aggregation): per-task gradients of the shared
  variables stacked into J [T, n], per-sample gradient variance only for
  methods that need it, then `agg(J)`.

Distribution: every quantity a method sees is global. Per-replica loss shares
are Σ_i l_i / B_global, so their sum over replicas is the global mean; the
step all-reduces losses, J, statistics and gradients itself, clips the global
gradient, and hands the optimizer gradient / R because Keras 3's optimizer
sums gradients across replicas again inside `apply_gradients` (DESIGN.md §5).
The same code runs eagerly, under tf.function, under XLA and in
`strategy.run`; with no strategy the default replica context makes every
all-reduce an identity.
"""

import re
from typing import Dict, Mapping, Optional, Sequence

import tensorflow as tf

from tfmtl.aggregation.base import Aggregator
from tfmtl.errors import UserError
from tfmtl.weighting.base import Weighting

SUM = tf.distribute.ReduceOp.SUM


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
    with self.strategy.scope():
      if self.kind == "grads":
        check_partition(model, names)
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
    self._clip_values = self._match_clip_patterns()
    self._step = self._distributed_step
    self._loop = self._run_loop
    if function:
      self._step = tf.function(self._step, jit_compile=jit_compile)
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
    logs = self._distributed_step(next(iterator))
    for _ in tf.range(num_steps - 1):
      logs = self._distributed_step(next(iterator))
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
    with tf.GradientTape(persistent=persistent) as tape:
      outputs = self.model(inputs, training=True)
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
    if self.kind == "losses":
      grads = self._loss_level(tape, total, task_shares, losses, step, labels,
                               outputs, local_b, global_b, ctx)
      total = ctx.all_reduce(SUM, tf.stop_gradient(total))
    else:
      grads, weights = self._grad_level(tape, task_shares, inputs, labels,
                                        local_b, global_b, ctx)
      total = tf.reduce_sum(weights * losses)
    del tape
    grads, grad_norm = self._clip(grads)
    self.optimizer.apply_gradients(
        zip([g / replicas for g in grads], self.variables))
    logs = {"total_loss": total, "grad_norm": grad_norm}
    for i, t in enumerate(self.tasks):
      logs[f"loss/{t.name}"] = losses[i]
      logs[f"weight/{t.name}"] = tf.stop_gradient(weights[i])
    logs.update(self.method.logs())
    return logs

  def _loss_level(self, tape, total, shares, losses, step, labels, outputs,
                  local_b, global_b, ctx):
    grads = tape.gradient(total, self.variables)
    grads = ctx.all_reduce(SUM, _zeros_for_none(grads, self.variables))
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
    return grads

  def _grad_level(self, tape, shares, inputs, labels, local_b, global_b, ctx):
    rows, own = [], []
    for i, vs in enumerate(self.task_vars):
      g = tape.gradient(shares[i], self.shared + vs)
      rows.append(_flatten(g[:len(self.shared)], self.shared))
      own.append(_zeros_for_none(g[len(self.shared):], vs))
    jacobian, own = ctx.all_reduce(SUM, (tf.stack(rows), own))
    extra = {}
    if "variance" in self.method.needs:
      extra["variance"] = self._variance(inputs, labels, local_b, global_b,
                                         ctx)
    if "losses" in self.method.needs:
      extra["losses"] = ctx.all_reduce(SUM, tf.stop_gradient(tf.stack(shares)))
    if "step" in self.method.needs:
      extra["step"] = self.optimizer.iterations
    combined = self.method(jacobian, **extra)
    weights = self.method.weights_for(jacobian)
    grads = _unflatten(combined, self.shared)
    for i, g in enumerate(own):
      grads += [weights[i] * x for x in g]
    return grads, weights

  def _variance(self, inputs, labels, local_b, global_b, ctx):
    """Per-sample gradient variance [T, n] of the shared variables, global.

    Replicas combine exactly: M = Σ_r b_r m_r / B and
    V = Σ_r b_r (v_r + (m_r − M)²) / B.
    """
    from tfmtl import per_sample  # pylint: disable=g-import-not-at-top
    wanted = getattr(self.method, "variance_tasks", None)
    n = sum(int(tf.size(v)) for v in self.shared)
    rows = []
    for t in self.tasks:
      if wanted is not None and t.name not in wanted:
        rows.append(tf.zeros([n]))
        continue
      mean, var = per_sample.gradient_moments(
          self.model, inputs, labels[t.name],
          lambda out, lab, t=t: t.loss(lab, out[t.name]), self.shared,
          mode=self.per_sample_mode)
      m = _flatten(mean, self.shared)
      v = _flatten(var, self.shared)
      if ctx.num_replicas_in_sync > 1:
        big_m = ctx.all_reduce(SUM, m * local_b) / global_b
        v = ctx.all_reduce(SUM, (v + tf.square(m - big_m)) * local_b) / global_b
      rows.append(v)
    return tf.stack(rows)

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
