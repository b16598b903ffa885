"""Per-example losses: each maps (y_true, y_pred) of a batch to a [B] vector.

Methods need per-example values (per-sample gradient statistics, global-batch
averaging across replicas), so no loss here reduces over the batch axis.

Each loss also has a *family* (`family`): what kind of prediction it
trains -- class logits, binary logits, a regression, depth, normals, flow.
The task's metrics (tfmtl/kinds.py) and the methods whose rule depends on
it (uncertainty's classification form, DTP's default KPI) read the family,
never the task's name.
"""

import tensorflow as tf

from tfmtl.errors import UserError
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


def huber(y_true, y_pred, delta=1.0):
  """Huber loss per example: ½x² for |x| ≤ δ, δ(|x| − ½δ) beyond, mean over
  the example's elements (Keras' `Huber`, unreduced over the batch)."""
  y_true = tf.cast(tf.reshape(y_true, tf.shape(y_pred)), y_pred.dtype)
  x = tf.abs(y_pred - y_true)
  quadratic = tf.minimum(x, delta)
  return _batch_mean(0.5 * tf.square(quadratic) + delta * (x - quadratic))


def bce(y_true, y_pred):
  """Binary cross-entropy of logits per example, the mean over the last axis
  for several labels (multi-label): y_pred [B] / [B, 1] is one binary task,
  [B, K] K of them, with labels in {0, 1} (or soft targets in [0, 1])."""
  y_true = tf.cast(tf.reshape(y_true, tf.shape(y_pred)), y_pred.dtype)
  return _batch_mean(tf.nn.sigmoid_cross_entropy_with_logits(
      labels=y_true, logits=y_pred))


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
    "huber": lambda: huber,
    "bce": lambda: bce,
    "sparse_ce": lambda: sparse_ce,
    "masked_l1": lambda: masked_l1,
    "flow_log_rmse": lambda: flow_log_rmse,
    "normal": lambda: normal,
})
"""The per-example losses by name; each entry makes the loss function."""

# What each loss trains. "categorical": class logits against class ids;
# "categorical_onehot": against one-hot (or soft) targets; "binary":
# logits against {0, 1} labels; "binary_probs": probabilities against them.
FAMILIES = ("categorical", "categorical_onehot", "binary", "binary_probs",
            "regression", "depth", "normal", "flow")
"""Every family a loss can have (see the comment above)."""
FAMILY = {mse: "regression", l1: "regression", huber: "regression",
          bce: "binary", sparse_ce: "categorical", masked_l1: "depth",
          normal: "normal", flow_log_rmse: "flow"}
"""{loss function: its family} for the losses defined here."""
# Keras losses, by class or function name.
_KERAS_FAMILY = {
    "SparseCategoricalCrossentropy": "categorical",
    "sparse_categorical_crossentropy": "categorical",
    "CategoricalCrossentropy": "categorical_onehot",
    "CategoricalFocalCrossentropy": "categorical_onehot",
    "categorical_crossentropy": "categorical_onehot",
    "categorical_focal_crossentropy": "categorical_onehot",
    "BinaryCrossentropy": "binary_probs",
    "BinaryFocalCrossentropy": "binary_probs",
    "binary_crossentropy": "binary_probs",
    "binary_focal_crossentropy": "binary_probs",
    "MeanSquaredError": "regression", "mean_squared_error": "regression",
    "MeanAbsoluteError": "regression", "mean_absolute_error": "regression",
    "Huber": "regression", "huber": "regression",
    "LogCosh": "regression", "log_cosh": "regression",
    "MeanSquaredLogarithmicError": "regression",
    "mean_squared_logarithmic_error": "regression",
}


def get(name):
  """The per-example loss function called `name` (or `module:function`)."""
  if ":" in name:
    return LOSSES.factory(name)
  return LOSSES.get(name)


def family(loss):
  """The family (`FAMILIES`) of a tfmtl loss name or function, a Keras loss
  (instance, class name or function) or None for a loss it can't tell (a
  user's own function)."""
  if isinstance(loss, str):
    if loss in LOSSES:
      return FAMILY[get(loss)]
    return _KERAS_FAMILY.get(loss)
  if loss in FAMILY:
    return FAMILY[loss]
  name = type(loss).__name__ if hasattr(loss, "call") else getattr(
      loss, "__name__", "")
  found = _KERAS_FAMILY.get(name)
  if found == "binary_probs" and getattr(loss, "from_logits", False):
    return "binary"
  return found


def per_example(loss):
  """(per-example loss [B], family) from a tfmtl loss name, a Keras loss
  (instance, name or function) or a callable (y_true, y_pred) -> losses.

  Keras losses are taken unreduced (`Loss.call`); anything with more than
  one axis left is averaged over the non-batch axes, as Keras' own
  reduction averages over them before the batch.
  """
  if isinstance(loss, str):
    if loss in LOSSES or ":" in loss:
      fn = get(loss)
      return fn, FAMILY.get(fn)
    import keras  # pylint: disable=g-import-not-at-top
    try:
      loss = keras.losses.get(loss)
    except ValueError:
      raise UserError(
          f"unknown loss {loss!r}: give a tfmtl loss ({', '.join(LOSSES.names())}), "
          "a Keras loss name or object (e.g. 'sparse_categorical_crossentropy', "
          "keras.losses.Huber()), or a function (y_true, y_pred) -> per-example "
          "losses") from None
  fn = loss.call if hasattr(loss, "call") and callable(loss) else loss
  if not callable(fn):
    raise UserError(f"loss {loss!r} is not a tfmtl loss name, a Keras loss "
                    "or a callable (y_true, y_pred) -> per-example losses")

  def reduced(y_true, y_pred):
    out = fn(y_true, y_pred)
    axes = list(range(1, len(out.shape)))
    return tf.reduce_mean(out, axis=axes) if axes else out
  reduced.__name__ = getattr(fn, "__name__", "loss")
  return reduced, family(loss)
