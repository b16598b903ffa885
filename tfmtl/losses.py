"""Per-example losses: each maps (y_true, y_pred) of a batch to a [B] vector.

Methods need per-example values (per-sample gradient statistics, global-batch
averaging across replicas), so no loss here reduces over the batch axis.
"""

import tensorflow as tf

from tfmtl.registry import Registry


def _batch_mean(x):
  """Mean over every axis but the first."""
  x = tf.reshape(x, [tf.shape(x)[0], -1])
  return tf.reduce_mean(x, axis=1)


def mse(y_true, y_pred):
  """Mean squared error per example."""
  y_true = tf.cast(tf.reshape(y_true, tf.shape(y_pred)), y_pred.dtype)
  return _batch_mean(tf.square(y_pred - y_true))


def l1(y_true, y_pred):
  """Mean absolute error per example (the pose losses of the PRF reference)."""
  y_true = tf.cast(tf.reshape(y_true, tf.shape(y_pred)), y_pred.dtype)
  return _batch_mean(tf.abs(y_pred - y_true))


def sparse_ce(y_true, y_pred, ignore_label=255):
  """Pixel-wise softmax cross-entropy of logits, mean over labelled pixels.

  Labels equal to `ignore_label` (or negative, as the .npy layout writes void)
  carry no loss; an example with no labelled pixel has loss 0.
  """
  labels = tf.cast(y_true, tf.int32)
  labels = tf.reshape(labels, tf.shape(y_pred)[:-1])
  valid = tf.logical_and(labels != ignore_label, labels >= 0)
  safe = tf.where(valid, labels, tf.zeros_like(labels))
  ce = tf.nn.sparse_softmax_cross_entropy_with_logits(safe, y_pred)
  mask = tf.cast(valid, ce.dtype)
  num = tf.reduce_sum(tf.reshape(ce * mask, [tf.shape(ce)[0], -1]), 1)
  den = tf.reduce_sum(tf.reshape(mask, [tf.shape(ce)[0], -1]), 1)
  return tf.math.divide_no_nan(num, den)


def masked_l1(y_true, y_pred):
  """Mean |Δ| over pixels with a valid (positive) target, e.g. depth."""
  y_true = tf.cast(tf.reshape(y_true, tf.shape(y_pred)), y_pred.dtype)
  mask = tf.cast(y_true > 0, y_pred.dtype)
  err = tf.abs(y_pred - y_true) * mask
  b = tf.shape(err)[0]
  return tf.math.divide_no_nan(
      tf.reduce_sum(tf.reshape(err, [b, -1]), 1),
      tf.reduce_sum(tf.reshape(mask, [b, -1]), 1))


def normal(y_true, y_pred):
  """1 − mean cosine between predicted and true surface normals per example.

  The NYUv2 normal loss of MTAN (Liu et al., CVPR 2019) and LibMTL
  (`NormalLoss`): the prediction is L2-normalised per pixel,
  l = 1 − 1/|V| Σ_{p∈V} ⟨n̂_p / ‖n̂_p‖, n_p⟩ over the valid pixels V (a true
  normal of zero is invalid); labels are unit normals [..., 3]. 0 for an
  example with no valid pixel. Differences from the references and why:
  they pool valid pixels over the whole batch (tfmtl needs a per-example
  loss) and call a pixel valid when its normal's components *sum* to non-
  zero (which also drops real normals like (1, −1, 0)/√2); here a pixel is
  valid when the normal is non-zero.
  """
  y_true = tf.cast(tf.reshape(y_true, tf.shape(y_pred)), y_pred.dtype)
  pred = tf.math.l2_normalize(y_pred, axis=-1)
  valid = tf.cast(tf.reduce_any(y_true != 0, axis=-1), y_pred.dtype)
  cos = tf.reduce_sum(pred * y_true, axis=-1) * valid
  b = tf.shape(cos)[0]
  count = tf.reduce_sum(tf.reshape(valid, [b, -1]), 1)
  mean_cos = tf.math.divide_no_nan(tf.reduce_sum(tf.reshape(cos, [b, -1]), 1),
                                   count)
  return tf.where(count > 0, 1.0 - mean_cos, tf.zeros_like(mean_cos))


def flow_log_rmse(y_true, y_pred):
  """RMSE of log(1 + clip(flow, 0, 1)) per example, as the PRF reference."""
  y_true = tf.cast(y_true, y_pred.dtype)
  lt = tf.math.log1p(tf.clip_by_value(y_true, 0.0, 1.0))
  lp = tf.math.log1p(tf.clip_by_value(y_pred, 0.0, 1.0))
  return tf.sqrt(_batch_mean(tf.square(lt - lp)))


LOSSES = Registry("loss", {
    "mse": lambda: mse,
    "l1": lambda: l1,
    "sparse_ce": lambda: sparse_ce,
    "masked_l1": lambda: masked_l1,
    "flow_log_rmse": lambda: flow_log_rmse,
    "normal": lambda: normal,
})


def get(name):
  """The per-example loss function called `name` (or `module:function`)."""
  if ":" in name:
    return LOSSES.factory(name)
  return LOSSES.get(name)
