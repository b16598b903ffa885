"""The first phase of a step: the forward pass and each task's loss share.

Per-replica loss shares are Σ_i l_t(x_i) / B_global, so their sum over
replicas is the global mean loss. Outputs are cast to float32 before the
losses (mixed precision).

Partly labelled batches: with per-task sample weights s_ti ≥ 0 (0 = no
label; a batch `(inputs, labels, {task: [B]})`, or NaN labels of a task with
`missing="nan"`), task t's loss is the weighted mean over the *global* batch

    L_t = Σ_i s_ti l_ti / Σ_i s_ti,

numerator and denominator summed over replicas, so it does not depend on
how examples fall across replicas (a replica with no labelled example of t
contributes 0 to both). A task with no labelled example in the step has
L_t = 0 and no gradient, and is *absent*: methods leave it out of their
rule and their state for it does not move (`present`; aggregation/absent.py
and each method's docstring). Dense labels keep their own per-pixel missing value
(the ignore id, invalid depth).
"""

import tensorflow as tf

from tfmtl import contract

SUM = tf.distribute.ReduceOp.SUM


def float32(outputs):
  return tf.nest.map_structure(
      lambda o: tf.cast(o, tf.float32) if o.dtype.is_floating else o,
      outputs)


def forward(split, inputs, on_representation: bool):
  """(outputs, representation): the training-mode forward pass.

  For methods on the representation the model runs as trunk then heads, so
  the tape holds Z (None otherwise).
  """
  if on_representation:
    representation, heads = split.call_split(inputs, training=True)
    return float32(heads(representation)), representation
  return float32(split.model(inputs, training=True)), None


def label_weights(tasks, labels, sample_weights=None):
  """(labels, {task: [B] weights} or None) with NaN-missing labels masked.

  None when no task has weights: the step then runs exactly as before.
  `sample_weights` may be one [B] array for every task (as Keras takes
  it); weights must be finite and ≥ 0 (checked as the step runs,
  tfmtl/contract.py).
  """
  contract.check_labels(tasks, labels)
  sample_weights = dict(contract.per_task_weights(tasks, sample_weights)
                        or {})
  contract.check_weights(tasks, sample_weights)
  labels = dict(labels)
  weights = {}
  for t in tasks:
    w = sample_weights.get(t.name)
    if w is not None:
      w = contract.assert_weights(
          t.name, tf.reshape(tf.cast(w, tf.float32), [-1]))
    if t.missing == "nan" and labels[t.name].dtype.is_floating:
      y = labels[t.name]
      bad = tf.math.is_nan(y)
      row = tf.reduce_any(tf.reshape(bad, [tf.shape(y)[0], -1]), axis=1)
      labels[t.name] = tf.where(bad, tf.zeros_like(y), y)
      keep = 1.0 - tf.cast(row, tf.float32)
      w = keep if w is None else w * keep
    y = labels[t.name]
    if w is not None and y.dtype.is_floating:
      # An unlabelled example's label may be anything (NaN, inf): zeroed,
      # so neither its loss nor its gradient can be NaN (tf.where alone
      # passes NaN gradients through).
      y_rank = tf.reshape(w > 0, tf.concat(
          [tf.shape(w), tf.ones([tf.rank(y) - 1], tf.int32)], 0))
      labels[t.name] = tf.where(y_rank, y, tf.zeros_like(y))
    weights[t.name] = w
  if all(w is None for w in weights.values()):
    return labels, None
  return labels, weights


def label_counts(weights, local_b, ctx):
  """[T] global sum of each task's sample weights (None when no task has
  weights); a task whose count is 0 is absent from the step."""
  if weights is None:
    return None
  return ctx.all_reduce(SUM, tf.stack([
      local_b if w is None else tf.reduce_sum(w) for w in weights.values()]))


def present(counts):
  """[T] bool: the task has a labelled example in the step (None: all)."""
  return None if counts is None else counts > 0


def loss_shares(tasks, labels, outputs, global_batch, weights=None,
                counts=None):
  """[replica's share of L_t] per task, a list (see module docstring);
  `counts` from `label_counts` when there are weights.

  Kept as a list: slicing a stacked tensor after the tape closes would not
  be recorded, and per-task gradients would be None.
  """
  per_example = [tf.cast(t.loss(labels[t.name], outputs[t.name]), tf.float32)
                 for t in tasks]
  for t, l in zip(tasks, per_example):
    contract.check_loss_output(t, l)
  if weights is None:
    return [tf.reduce_sum(l) / global_batch for l in per_example]
  shares = []
  for i, (t, l) in enumerate(zip(tasks, per_example)):
    w = weights[t.name]
    # where, not w * l: an unlabelled example's loss may be inf or NaN.
    num = tf.reduce_sum(l) if w is None else tf.reduce_sum(
        tf.where(w > 0, w * l, tf.zeros_like(l)))
    shares.append(tf.math.divide_no_nan(num, counts[i]))
  return shares
