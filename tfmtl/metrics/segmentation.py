"""Semantic segmentation metrics: confusion matrix, IoU, mIoU, pixel accuracy.

Conventions (Cityscapes evaluation, Cordts et al., CVPR 2016,
`cityscapesscripts/evaluation/evalPixelLevelSemanticLabeling.py`):

  C[i, j] = #pixels with label i predicted as j, over labelled pixels only;
  IoU_c   = C[c, c] / (sum_j C[c, j] + sum_i C[i, c] - C[c, c]);
  mIoU    = mean of IoU_c over classes with a non-zero denominator (a class
            absent from both label and prediction is NaN and left out);
  pixel accuracy = trace(C) / sum(C).

A pixel is labelled when its label is in [0, num_classes): `ignore_label`
(255) and negative values (void in the .npy layout) are skipped, as is any
other out-of-range label. Predictions are class ids in [0, num_classes), or
scores (logits / probabilities) with a trailing class axis, which are
arg-maxed; a floating-point `y_pred` is always read as scores.

All values are fractions in [0, 1]; tables print them x100.
"""

import keras
import numpy as np
import tensorflow as tf

from tfmtl.errors import UserError

# For delta_m: which of this module's metrics are better when higher.
HIGHER_IS_BETTER = {"miou": True, "pixel_accuracy": True}


def _class_ids(y_pred):
  """Class ids from ids or from scores with a trailing class axis."""
  y_pred = tf.convert_to_tensor(y_pred)
  if y_pred.dtype.is_floating:
    return tf.argmax(y_pred, axis=-1, output_type=tf.int32)
  return tf.cast(y_pred, tf.int32)


def confusion_matrix(y_true, y_pred, num_classes, ignore_label=255):
  """[C, C] float64 confusion matrix (rows: label, columns: prediction).

  Args:
    y_true: integer labels, any shape; a trailing axis of size 1 is allowed.
    y_pred: class ids of the same number of elements as `y_true`, or scores
      with one more trailing axis of size `num_classes`.
    num_classes: C.
    ignore_label: label value that is skipped (besides out-of-range labels).

  Returns:
    float64 [C, C] counts (float64 counts stay exact up to 2**53 pixels and
    sum cleanly across replicas).
  """
  pred = tf.reshape(_class_ids(y_pred), [-1])
  label = tf.reshape(tf.cast(y_true, tf.int32), [-1])
  valid = (label != ignore_label) & (label >= 0) & (label < num_classes)
  # Keeps bincount's index inside [0, C*C) even for a bad prediction.
  valid &= (pred >= 0) & (pred < num_classes)
  index = tf.boolean_mask(label * num_classes + pred, valid)
  counts = tf.math.bincount(index, minlength=num_classes * num_classes,
                            maxlength=num_classes * num_classes,
                            dtype=tf.float64)
  return tf.reshape(counts, [num_classes, num_classes])


def iou_from_confusion(cm):
  """Per-class IoU (NaN where the class is in neither label nor prediction).

  Returns:
    (miou scalar, iou [C]) float64 tensors; miou is NaN when no class is
    present at all.
  """
  cm = tf.cast(cm, tf.float64)
  tp = tf.linalg.diag_part(cm)
  denom = tf.reduce_sum(cm, 0) + tf.reduce_sum(cm, 1) - tp
  nan = tf.constant(np.nan, tf.float64)
  iou = tf.where(denom > 0, tp / tf.where(denom > 0, denom, 1.0), nan)
  present = tf.cast(denom > 0, tf.float64)
  miou = tf.where(
      tf.reduce_sum(present) > 0,
      tf.reduce_sum(tf.where(denom > 0, iou, 0.0)) /
      tf.maximum(tf.reduce_sum(present), 1.0), nan)
  return miou, iou


def accuracy_from_confusion(cm):
  """Pixel accuracy trace(C) / sum(C) (NaN when nothing is labelled)."""
  cm = tf.cast(cm, tf.float64)
  total = tf.reduce_sum(cm)
  return tf.where(total > 0, tf.linalg.trace(cm) / tf.maximum(total, 1.0),
                  tf.constant(np.nan, tf.float64))


def mean_iou(y_true, y_pred, num_classes, ignore_label=255):
  """mIoU and per-class IoU of one set of predictions (eager, not streaming).

  Args:
    y_true: integer labels (numpy or tensor), `ignore_label` skipped.
    y_pred: class ids, or scores with a trailing class axis (arg-maxed).
    num_classes: number of classes C.
    ignore_label: label value that carries no score.

  Returns:
    (miou: float, iou: np.ndarray [C]) with NaN for classes absent from both
    label and prediction; those are left out of the mean.
  """
  miou, iou = iou_from_confusion(
      confusion_matrix(y_true, y_pred, num_classes, ignore_label))
  return float(miou.numpy()), iou.numpy()


def pixel_accuracy(y_true, y_pred, num_classes, ignore_label=255):
  """Fraction of labelled pixels predicted right (eager, not streaming)."""
  return float(accuracy_from_confusion(
      confusion_matrix(y_true, y_pred, num_classes, ignore_label)).numpy())


class SegmentationMetric(keras.metrics.Metric):
  """Streaming confusion matrix -> mIoU, per-class IoU, pixel accuracy.

  The confusion matrix is a Keras metric variable (synchronization ON_READ,
  aggregation SUM): under a tf.distribute strategy each replica adds its own
  pixels and reading the result in cross-replica context sums the replicas,
  so `strategy.run(metric.update_state, ...)` then `metric.result()` equals
  the single-device result. Create it inside `strategy.scope()`.

  Args:
    num_classes: C.
    ignore_label: label skipped by the confusion matrix.
    class_names: optional C names; `result()` then also has "iou/<name>".
    name: metric name.
  """

  higher_is_better = HIGHER_IS_BETTER

  def __init__(self, num_classes, ignore_label=255, class_names=None,
               name="segmentation", **kwargs):
    super().__init__(name=name, **kwargs)
    self.num_classes = int(num_classes)
    self.ignore_label = int(ignore_label)
    if class_names is not None and len(class_names) != self.num_classes:
      raise UserError(
          f"{name}: {len(class_names)} class_names for num_classes="
          f"{self.num_classes}; give one name per class")
    self.class_names = list(class_names) if class_names else None
    self.confusion = self.add_variable(
        shape=(self.num_classes, self.num_classes), initializer="zeros",
        dtype="float64", aggregation="sum", name="confusion")

  def update_state(self, y_true, y_pred, sample_weight=None):
    """Adds a batch; `sample_weight` is not supported (use ignore_label)."""
    del sample_weight
    self.confusion.assign_add(confusion_matrix(
        y_true, y_pred, self.num_classes, self.ignore_label))

  def result(self):
    """{"miou", "pixel_accuracy", "iou" [C]} (+ "iou/<name>" if named)."""
    cm = tf.convert_to_tensor(self.confusion)
    miou, iou = iou_from_confusion(cm)
    out = {"miou": miou, "pixel_accuracy": accuracy_from_confusion(cm),
           "iou": iou}
    for c, cname in enumerate(self.class_names or []):
      out[f"iou/{cname}"] = iou[c]
    return out

  def reset_state(self):
    self.confusion.assign(tf.zeros_like(self.confusion))

  def get_config(self):
    return {**super().get_config(), "num_classes": self.num_classes,
            "ignore_label": self.ignore_label,
            "class_names": self.class_names}
