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
L_t = 0 and no gradient. Dense labels keep their own per-pixel missing value
(the ignore id, invalid depth).
"""

import tensorflow as tf

from tfmtl.errors import UserError

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
  """
  sample_weights = dict(sample_weights or {})
  unknown = sorted(set(sample_weights) - {t.name for t in tasks})
  if unknown:
    raise UserError(f"sample weights for {unknown}, which are not tasks "
                    f"being trained ({[t.name for t in tasks]})")
  labels = dict(labels)
  weights = {}
  for t in tasks:
    w = sample_weights.get(t.name)
    if w is not None:
      w = tf.reshape(tf.cast(w, tf.float32), [-1])
    if t.missing == "nan" and labels[t.name].dtype.is_floating:
      y = labels[t.name]
      bad = tf.math.is_nan(y)
      row = tf.reduce_any(tf.reshape(bad, [tf.shape(y)[0], -1]), axis=1)
      labels[t.name] = tf.where(bad, tf.zeros_like(y), y)
      keep = 1.0 - tf.cast(row, tf.float32)
      w = keep if w is None else w * keep
    weights[t.name] = w
  if all(w is None for w in weights.values()):
    return labels, None
  return labels, weights


def loss_shares(tasks, labels, outputs, global_batch, weights=None,
                ctx=None):
  """[replica's share of L_t] per task, a list (see module docstring).

  Kept as a list: slicing a stacked tensor after the tape closes would not
  be recorded, and per-task gradients would be None.
  """
  per_example = [tf.cast(t.loss(labels[t.name], outputs[t.name]), tf.float32)
                 for t in tasks]
  if weights is None:
    return [tf.reduce_sum(l) / global_batch for l in per_example]
  local_b = tf.cast(tf.shape(per_example[0])[0], tf.float32)
  counts = ctx.all_reduce(SUM, tf.stack([
      local_b if weights[t.name] is None else tf.reduce_sum(weights[t.name])
      for t in tasks]))
  shares = []
  for i, (t, l) in enumerate(zip(tasks, per_example)):
    w = weights[t.name]
    # where, not w * l: an unlabelled example's loss may be inf or NaN.
    num = tf.reduce_sum(l) if w is None else tf.reduce_sum(
        tf.where(w > 0, w * l, tf.zeros_like(l)))
    shares.append(tf.math.divide_no_nan(num, counts[i]))
  return shares
