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
  """[T] bool: task t's row or own gradients are not finite."""
  return tf.logical_not(tf.stack([
      tf.logical_and(tf.reduce_all(tf.math.is_finite(rows[i])),
                     all_finite(own[i]) if own[i] else True)
      for i in range(len(own))]))


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


def stacked_jacobian(tape, shares, variables: Variables, ctx, scale):
  """(J [T, n], own gradients per task, bad_grad [T]), global and unscaled.

  Row t of J is ∇_θs of task t's share; own[t] its own variables' gradient.
  """
  rows, own = [], []
  shared = variables.shared
  for i, vs in enumerate(variables.tasks):
    g = tape.gradient(shares[i], shared + vs)
    rows.append(flatten(g[:len(shared)], shared))
    own.append(zeros_for_none(g[len(shared):], vs))
  jacobian, own = ctx.all_reduce(SUM, (tf.stack(rows), own))
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
  stacked = finite_or_zero(tf.stack(jacobians))
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
                   inputs: StepInputs, ctx, scale):
  """J, then the aggregator with what it declared (`inputs`)."""
  jacobian, own, bad_grad = stacked_jacobian(tape, shares, variables, ctx,
                                             scale)
  # A method's solver must not see NaN (an iterative one could spin); the
  # step is skipped anyway when anything here is non-finite.
  jacobian = finite_or_zero(jacobian)
  combined = method.apply(jacobian, inputs)
  grads, weights = _with_own(method, combined, own, variables, jacobian)
  return grads, weights, bad_grad


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
  shared = ctx.all_reduce(SUM, zeros_for_none(shared, variables.shared))
  if scale is not None:
    shared = [g / scale for g in shared]
  weights = method.weights_for(gram)
  grads = list(shared)
  for i, g in enumerate(own):
    grads += [weights[i] * x for x in g]
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
