"""The middle phase of a step: gradients, by the kind of method.

- loss level (tfmtl.weighting): one backward pass of Σ w_t L_t (+ the
  method's regularizer); gradient norms of the watched shared layer per task
  only for methods that need them; KPIs for those that read them;
- gradient level (tfmtl.aggregation): per-task gradients of the shared
  variables stacked into J [T, n], then `method.apply(J, inputs)`;
- representation level (MGDA-UB, `rep_grad`): per-task gradients w.r.t.
  the shared representation Z only (backward passes through the heads),
  their Gramian [T, T], the method's weights from it, then one backward pass
  through the shared layers seeded with Σ_t w_t ∇_Z L_t.

Each function takes what it works on explicitly: the tape and the loss
shares, the method, the step's `Variables`, the `StepInputs` the method
declared (tfmtl/method_base.py), the replica context and the loss scale.
It returns (gradients in the order of `Variables.trained`, weights [T] where
the phase decides them, bad_grad [T]). Everything returned is global: the
all-reduces happen here.
"""

import dataclasses
import math
from typing import List, Optional

import tensorflow as tf

from tfmtl.engine.apply import all_finite
from tfmtl.engine.forward import SUM, float32
from tfmtl.method_base import Need, StepInputs


@dataclasses.dataclass
class Variables:
  """The variables a step trains, grouped as the phases read them.

  Attributes:
    shared: the shared variables, in J's column order.
    tasks: each task's own variables.
    trained: every variable the optimizer updates, in the order the
      phases return gradients.
    watched: the shared layer whose per-task gradient norms loss-level
      methods with Need.GRAD_NORMS read.
  """
  shared: List[tf.Variable]
  tasks: List[List[tf.Variable]]
  trained: List[tf.Variable]
  watched: List[tf.Variable] = dataclasses.field(default_factory=list)


def size(v) -> int:
  """Elements of a variable, from its static shape (a Python int even
  while tracing)."""
  return math.prod(tuple(v.shape))


def flatten(grads, variables):
  return tf.concat([
      tf.reshape(tf.zeros_like(v) if g is None else g, [-1])
      for g, v in zip(grads, variables)], axis=0)


def unflatten(vector, variables):
  sizes = [size(v) for v in variables]
  parts = tf.split(vector, sizes)
  return [tf.reshape(p, v.shape) for p, v in zip(parts, variables)]


def zeros_for_none(grads, variables):
  return [tf.zeros_like(v) if g is None else g
          for g, v in zip(grads, variables)]


def finite_or_zero(x):
  return tf.where(tf.math.is_finite(x), x, tf.zeros_like(x))


def _bad_rows(rows, own):
  """[T] bool: task t's row or own gradients are not finite.

  A row is judged by its sum (finite iff every entry is, unless the entries
  are finite but their sum overflows: a gradient that large is reported as
  bad too), so no [T, n] mask is formed beside J.
  """
  row_ok = tf.math.is_finite(tf.reduce_sum(rows, axis=1))
  return tf.logical_not(tf.stack([
      tf.logical_and(row_ok[i], all_finite(own[i]) if own[i] else True)
      for i in range(len(own))]))


def rows_in_place(make_row, num_rows: int, num_cols: int, dtype=tf.float32,
                  in_place: bool = True):
  """[num_rows, num_cols] built row by row in one buffer: row t =
  `make_row(t)` ([num_cols]) is computed only after row t − 1 is written
  into the buffer, so one row's temporaries (a task's gradients, their
  flattening) are alive at a time beside the buffer, and the rows are
  never stacked into a second copy (bench/memory.py measures it).

  XLA has no in-place row update (`in_place=False` under jit_compile): the
  rows are stacked there, and XLA plans the buffers itself.
  """
  if not in_place:
    return tf.stack([make_row(t) for t in range(num_rows)])
  buf = tf.raw_ops.Empty(shape=[num_rows, num_cols], dtype=dtype, init=False)
  for t in range(num_rows):
    with tf.control_dependencies([buf] if t else []):
      row = make_row(t)
    buf = tf.raw_ops.InplaceUpdate(x=buf, i=[t], v=row[None])
  return buf


def loss_level(tape, target, shares, method, variables: Variables,
               inputs: StepInputs, losses, step, ctx, scale):
  """One backward pass of the weighted total; then the weighting's state
  update with the statistics it declared (`inputs`: KPIs, presence; the
  gradient norms are formed here, from the tape)."""
  grads = tape.gradient(target, variables.trained)
  grads = ctx.all_reduce(SUM, zeros_for_none(grads, variables.trained))
  if scale is not None:
    grads = [g / scale for g in grads]
  # One backward pass of Σ w_t L_t: a bad gradient can't be pinned on a
  # task, so all are named.
  bad_grad = tf.fill([len(shares)], tf.logical_not(all_finite(grads)))
  if Need.GRAD_NORMS in method.needs:
    watched = variables.watched
    per_task = [flatten(tape.gradient(shares[i], watched), watched)
                for i in range(len(shares))]
    per_task = ctx.all_reduce(SUM, tf.stack(per_task))
    inputs = dataclasses.replace(inputs, grad_norms=tf.norm(per_task,
                                                            axis=1))
  method.update(losses, step, **inputs.kwargs())
  return grads, bad_grad


def kpis(tasks, labels, outputs, local_b, global_b, ctx):
  """[T] global KPIs (Task.kpi), example-weighted over replicas."""
  local = tf.stack([tf.cast(t.kpi(labels[t.name], outputs[t.name]),
                            tf.float32) for t in tasks])
  return ctx.all_reduce(SUM, local * local_b) / global_b


def stacked_jacobian(tape, shares, variables: Variables, ctx, scale,
                     in_place: bool = True):
  """(J [T, n], own gradients per task, bad_grad [T]), global and unscaled.

  Row t of J is ∇_θs of task t's share; own[t] its own variables' gradient.
  J is written row by row into one buffer (`rows_in_place`): the step holds
  one copy of it, not the per-task gradients, their rows and their stack.
  """
  shared, own = variables.shared, []
  n = sum(size(v) for v in shared)

  def row(i):
    g = tape.gradient(shares[i], shared + variables.tasks[i])
    own.append(zeros_for_none(g[len(shared):], variables.tasks[i]))
    return flatten(g[:len(shared)], shared)
  jacobian = rows_in_place(row, len(variables.tasks), n, in_place=in_place)
  jacobian, own = ctx.all_reduce(SUM, (jacobian, own))
  if scale is not None:
    jacobian = jacobian / scale
    own = [[x / scale for x in g] for g in own]
  return jacobian, own, _bad_rows(jacobian, own)


def _with_own(method, combined, own, variables, reference):
  """Shared gradients from the method's combined [n] vector, then each
  task's own variables with the configured weight (and the weights)."""
  weights = method.weights_for(reference)
  grads = unflatten(combined, variables.shared)
  for i, g in enumerate(own):
    grads += [weights[i] * x for x in g]
  return grads, weights


def multi_batch_level(method, variables: Variables, jacobians, owns,
                      inputs: StepInputs):
  """Methods that read several independent batches' Jacobians (MoDo,
  SDMGrad): `method(J_last, jacobians=[K, T, n])`; task variables get the
  configured weight times their gradient averaged over the K batches."""
  stacked = finite_or_zero(tf.stack(jacobians))  # K small batches: copies
  combined = method.apply(stacked[-1], dataclasses.replace(
      inputs, jacobians=stacked))
  weights = method.weights_for(stacked[-1])
  grads = unflatten(combined, variables.shared)
  k = float(len(owns))
  for i in range(len(variables.tasks)):
    grads += [weights[i] * tf.add_n([own[i][j] for own in owns]) / k
              for j in range(len(variables.tasks[i]))]
  return grads, weights


def jacobian_level(tape, shares, method, variables: Variables,
                   inputs: StepInputs, ctx, scale, in_place: bool = True):
  """J, then the aggregator with what it declared (`inputs`)."""
  jacobian, own, bad_grad = stacked_jacobian(tape, shares, variables, ctx,
                                             scale, in_place)
  # A method's solver must not see NaN; the step is skipped anyway when
  # anything here is non-finite. Methods that guard themselves are spared
  # the copy of J (needs_finite_j).
  if method.needs_finite_j:
    jacobian = finite_or_zero(jacobian)
  combined = method.apply(jacobian, inputs)
  grads, weights = _with_own(method, combined, own, variables, jacobian)
  return grads, weights, bad_grad


def blocks(shared, num_tasks: int, block_bytes: float):
  """The shared variables in blocks of at most `block_bytes` of task
  gradients (T × 4 bytes × their size; a larger variable is a block of its
  own), from the output side down: the first blocks' backward passes stop
  early."""
  out, current, used = [], [], 0.0
  for v in reversed(shared):
    cost = num_tasks * 4.0 * size(v)
    if current and used + cost > block_bytes:
      out.append(current)
      current, used = [], 0.0
    current.append(v)
    used += cost
  if current:
    out.append(current)
  return [list(reversed(b)) for b in out]


def gramian_level(tape, shares, method, variables: Variables,
                  inputs: StepInputs, ctx, scale, block_bytes: float,
                  in_place: bool = True):
  """G = J Jᵀ without J: for each block of shared variables (`blocks`), its
  T task gradients J_b [T, n_b] are formed (in place), all-reduced and
  consumed into G += J_b J_bᵀ before the next block's are; then the method's
  weights w from G, and one backward pass of Σ_t w_t L_t for the shared
  update (Σ_t w_t g_t = Jᵀw). Task variables get their configured weight
  times their own gradient, from the first block's passes. Peak memory:
  one block, not T gradients; cost: T backward passes per block (each down
  to its block only) and one more. Equal to `jacobian_level` with the same
  method to float32 round-off (G and Jᵀw summed in another order).
  """
  num_tasks = len(variables.tasks)
  gram = tf.zeros([num_tasks, num_tasks])
  own = [None] * num_tasks
  bad = tf.constant(False)
  for k, block in enumerate(blocks(variables.shared, num_tasks,
                                   block_bytes)):

    def row(i, block=block, first=(k == 0)):
      heads = variables.tasks[i] if first else []
      g = tape.gradient(shares[i], block + heads)
      if first:
        own[i] = zeros_for_none(g[len(block):], heads)
      return flatten(g[:len(block)], block)
    # The next block's passes wait for G to have this one: one block alive.
    with tf.control_dependencies([gram]):
      local = rows_in_place(row, num_tasks, sum(size(v) for v in block),
                            in_place=in_place)
    part = ctx.all_reduce(SUM, local)
    if scale is not None:
      part = part / scale
    bad = tf.logical_or(bad, tf.logical_not(tf.math.is_finite(
        tf.reduce_sum(part))))
    gram = gram + tf.matmul(part, part, transpose_b=True)
  own = ctx.all_reduce(SUM, own)
  if scale is not None:
    own = [[x / scale for x in g] for g in own]
  bad_grad = tf.logical_or(_bad_rows(gram, own), bad)
  alpha = method.weights_from_gramian(finite_or_zero(gram),
                                      **inputs.kwargs())
  combined = tape.gradient(
      shares, variables.shared,
      output_gradients=[tf.cast(tf.stop_gradient(alpha[i]), s.dtype)
                        for i, s in enumerate(shares)])
  grads, weights = _reduced_with_own(combined, own, gram, method, variables,
                                     ctx, scale)
  return grads, weights, bad_grad


def _reduced_with_own(shared, own, gram, method, variables: Variables, ctx,
                      scale):
  """The Gramian paths' last phase: the combined shared gradient summed over
  replicas and unscaled, then each task's own variables with its weight."""
  shared = ctx.all_reduce(SUM, zeros_for_none(shared, variables.shared))
  if scale is not None:
    shared = [g / scale for g in shared]
  weights = method.weights_for(gram)
  grads = list(shared)
  for i, g in enumerate(own):
    grads += [weights[i] * x for x in g]
  return grads, weights


def weighting_part(tape, weighting, objective, losses, step, inputs,
                   ctx):
  """A composition's weighting: gradients of its own variables from its
  objective, then its state update (as after a loss-level step)."""
  own = list(weighting.trainable_variables)
  grads = ctx.all_reduce(SUM, zeros_for_none(tape.gradient(objective, own),
                                             own)) if own else []
  weighting.update(losses, step, **inputs.kwargs())
  return list(grads)


def representation_level(tape, shares, representation, method,
                         variables: Variables, inputs: StepInputs, ctx,
                         scale):
  """Weights from the representation Jacobian J_Z; one shared backward.

  Only the T×T Gramian of J_Z is all-reduced: J_Z's columns are per-example
  blocks, so the global Gramian is the sum of the replicas'.
  """
  z = tf.nest.flatten(representation)
  z_grads, rows, own = [], [], []
  for i, vs in enumerate(variables.tasks):
    g = tape.gradient(shares[i], z + vs)
    z_grads.append(zeros_for_none(g[:len(z)], z))
    rows.append(tf.cast(flatten(z_grads[-1], z), tf.float32))
    own.append(zeros_for_none(g[len(z):], vs))
  local = tf.stack(rows)
  gram, own = ctx.all_reduce(
      SUM, (tf.matmul(local, local, transpose_b=True), own))
  if scale is not None:
    gram = gram / (scale * scale)
    own = [[x / scale for x in g] for g in own]
  bad_grad = _bad_rows(gram, own)
  alpha = method.weights_from_gramian(finite_or_zero(gram), **inputs.kwargs())
  seed = [tf.add_n([tf.cast(alpha[i], g[k].dtype) * g[k]
                    for i, g in enumerate(z_grads)])
          for k in range(len(z))]
  shared = tape.gradient(z, variables.shared, output_gradients=seed)
  grads, weights = _reduced_with_own(shared, own, gram, method, variables,
                                     ctx, scale)
  return grads, weights, bad_grad


def variance(model, tasks, shared, mode, inputs, labels, local_b, global_b,
             ctx, due=None, wanted: Optional[List[str]] = None,
             example_weights=None, synchronized_bn=False):
  """Per-sample gradient variance [T, n] of the `shared` variables, global.

  Replicas combine exactly: M = Σ_r b_r m_r / B and
  V = Σ_r b_r (v_r + (m_r − M)²) / B. With `example_weights` {task: [B]}
  (partly labelled data) task t's moments are weighted by its sample
  weights, over its labelled examples of the global batch (per_sample.py),
  and b_r, B are the replica's and the global sums of its weights (0 for
  an absent task, whose row is then 0). Only the tasks named in `wanted`
  (None: all) are computed; the others' rows are 0. With `due` (a bool
  tensor, the same on every replica) the local pass runs only when it is
  true and zeros stand in otherwise; the all-reduces stay outside the
  cond, since a cond branch may not call merge_call in a replica context.
  """
  from tfmtl import per_sample  # pylint: disable=g-import-not-at-top
  n = sum(size(v) for v in shared)
  chosen = [t for t in tasks if wanted is None or t.name in wanted]
  per_task = (None if example_weights is None else
              [example_weights.get(t.name) for t in chosen])

  def local():
    # One pass for all tasks: the forwards are shared.
    pairs = per_sample.gradient_moments_of_losses(
        model, inputs, {t.name: labels[t.name] for t in chosen},
        [lambda out, lab, t=t: t.loss(lab[t.name], float32(out[t.name]))
         for t in chosen],
        shared, mode=mode, weights=per_task)
    return tf.stack([
        tf.stack([flatten(mean, shared), flatten(var, shared)])
        for mean, var in pairs])  # [T', 2, n]

  if due is None or synchronized_bn:
    # Synchronized BatchNorm all-reduces inside the pass: no cond.
    moments = local()
  else:
    moments = tf.cond(due, local, lambda: tf.zeros([len(chosen), 2, n]))
  m, v = moments[:, 0], moments[:, 1]
  if ctx.num_replicas_in_sync > 1 and per_task is not None:
    here = tf.stack([local_b if w is None else tf.reduce_sum(w)
                     for w in per_task])[:, None]  # [T', 1]
    total = ctx.all_reduce(SUM, here)
    big_m = tf.math.divide_no_nan(ctx.all_reduce(SUM, m * here), total)
    v = tf.math.divide_no_nan(
        ctx.all_reduce(SUM, (v + tf.square(m - big_m)) * here), total)
  elif ctx.num_replicas_in_sync > 1:
    big_m = ctx.all_reduce(SUM, m * local_b) / global_b
    v = ctx.all_reduce(SUM, (v + tf.square(m - big_m)) * local_b) / global_b
  row_of = {t.name: k for k, t in enumerate(chosen)}
  return tf.stack([v[row_of[t.name]] if t.name in row_of else tf.zeros([n])
                   for t in tasks])
