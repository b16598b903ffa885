"""A task's streaming metrics, chosen by its kind (tfmtl/kinds.py).

`TaskMetrics(task, kind, output_shape)` accumulates one task over batches
(`update(y_true, y_pred, weight)`) and `result()` gives {metric: float}.
Examples with weight 0 -- an unlabelled example of a partly labelled task,
NaN labels of a task with `missing="nan"` -- count for nothing: means are
over the labelled examples, dense metrics see their pixels as ignored.
"""

from typing import Dict, Optional

import keras
import numpy as np
import tensorflow as tf

from tfmtl.metrics.depth import DepthMetric
from tfmtl.metrics.motion import MotionMetric
from tfmtl.metrics.normals import NormalMetric
from tfmtl.metrics.segmentation import SegmentationMetric

# Metrics each kind reports besides `loss`, and their direction for Δm.
HIGHER_IS_BETTER = {"loss": False, "mse": False, "mae": False, "rmse": False,
                    "epe": False, "accuracy": True, "top5_accuracy": True,
                    "auc": True}
# The metrics a results table and Δm compare, per kind.
# (Ordered so that `headline_of` reads a kind from its metrics: a kind's
# keys are not all among an earlier kind's.)
HEADLINE = {"segmentation": ("miou", "pixel_accuracy"), "motion": ("miou",),
            "depth": ("abs_rel", "abs"), "flow": ("epe",),
            "binary": ("accuracy", "auc"), "classification": ("accuracy",),
            "normal": ("mean_angle", "median_angle", "within_11.25",
                       "within_22.5", "within_30"),
            "regression": ("mse",), "odometry": ("t_err", "r_err", "ate"),
            "loss": ("loss",)}
_IGNORE = 255  # the segmentation metrics' ignore id


class Means(keras.metrics.Metric):
  """Streaming weighted means of named per-example values (SUM-aggregated,
  float64)."""

  def __init__(self, names, name="mean"):
    super().__init__(name=name)
    self.names = list(names)
    self.sums = self.add_variable(shape=(len(names) + 1,), dtype="float64",
                                  initializer="zeros", aggregation="sum",
                                  name="sums")

  def add(self, values: Dict[str, tf.Tensor], weight):
    """values[name]: [B] per-example values; weight [B] (0: left out)."""
    w = tf.cast(weight, tf.float64)
    # where, not a product: an unlabelled example's value may be NaN.
    row = [tf.reduce_sum(tf.where(w > 0, w * tf.cast(values[n], tf.float64),
                                  tf.zeros_like(w))) for n in self.names]
    self.sums.assign_add(tf.stack(row + [tf.reduce_sum(w)]))

  def result(self):
    s = tf.convert_to_tensor(self.sums)
    # NaN, not 0, for a task no example of the split is labelled for.
    mean = tf.where(s[-1] > 0, s[:-1] / tf.where(s[-1] > 0, s[-1], 1.0),
                    tf.constant(np.nan, tf.float64))
    return {**{n: mean[i] for i, n in enumerate(self.names)},
            "count": s[-1]}


class TaskMetrics:
  """Streaming metrics of one task of kind `kind` (see module docstring).

  Args:
    task: the `tfmtl.tasks.Task` (its loss and family).
    kind: a `tfmtl.kinds.KINDS` name, resolved for this output.
    output_shape: the task output's shape [B, ...] (classes, labels).
    depth_range: (min, max) metres scored by depth tasks.
    flow_to_pixels: maps flow labels / predictions to pixels (sources that
      normalise flow), for EPE in pixels.
  """

  def __init__(self, task, kind: str, output_shape, depth_range=(0.0, np.inf),
               flow_to_pixels=None):
    self.task, self.kind = task, kind
    self.flow_to_pixels = flow_to_pixels
    out = list(output_shape)
    self.channels = int(out[-1]) if len(out) > 1 and out[-1] else 1
    self.metric, self.aucs = None, []
    if kind == "segmentation":
      self.metric = SegmentationMetric(self.channels, name=task.name)
    elif kind == "motion":
      self.metric = MotionMetric(name=task.name)
    elif kind == "depth":
      self.metric = DepthMetric(*depth_range, name=task.name)
    elif kind == "normal":
      self.metric = NormalMetric(name=task.name)
    elif kind == "binary":
      self.labels = self.channels if len(out) > 1 else 1
      self.aucs = [keras.metrics.AUC(num_thresholds=500,
                                     from_logits=self.logits,
                                     name=f"{task.name}_auc{k}")
                   for k in range(self.labels)]
    names = ["loss"] + {
        "flow": ["epe"], "regression": ["mse", "mae"],
        "classification": ["accuracy"] + (["top5_accuracy"]
                                          if self.channels > 5 else []),
        "binary": ["accuracy"] + ([f"accuracy/{k}" for k in range(
            self.channels)] if kind == "binary" and self.channels > 1
                                  else []),
    }.get(kind, [])
    self.means = Means(names, name=f"{task.name}_mean")

  @property
  def logits(self) -> bool:
    return self.task.family != "binary_probs"

  def update(self, y_true, y_pred, weight: Optional[tf.Tensor] = None):
    """One batch; `weight` [B] per-example (None: all 1)."""
    b = tf.shape(y_pred)[0]
    w = tf.ones([b]) if weight is None else tf.cast(weight, tf.float32)
    values = {"loss": self.task.loss(y_true, y_pred)}
    if self.kind == "flow":
      y = tf.cast(tf.reshape(y_true, tf.shape(y_pred)), y_pred.dtype)
      p = y_pred
      if self.flow_to_pixels is not None:  # EPE in pixels, loss in labels
        y = self.flow_to_pixels(y)
        p = self.flow_to_pixels(p, prediction=True)
      epe = tf.norm(p - y, axis=-1)
      values["epe"] = tf.reduce_mean(tf.reshape(epe, [b, -1]), axis=1)
    elif self.kind == "classification":
      values.update(self._classification(y_true, y_pred))
    elif self.kind == "binary":
      values.update(self._binary(y_true, y_pred, w))
    elif self.kind == "regression":
      d = tf.reshape(tf.cast(tf.reshape(y_true, tf.shape(y_pred)),
                             y_pred.dtype) - y_pred, [b, -1])
      values["mse"] = tf.reduce_mean(tf.square(d), axis=1)
      values["mae"] = tf.reduce_mean(tf.abs(d), axis=1)
    elif self.metric is not None:
      self.metric.update_state(*self._dense_unlabelled(y_true, y_pred, w))
    self.means.add(values, w)

  def _classification(self, y_true, y_pred):
    b = tf.shape(y_pred)[0]
    if self.task.family == "categorical_onehot" or (
        y_true.shape.rank == 2 and y_true.shape[-1] == self.channels and
        self.channels > 1 and not y_true.dtype.is_integer):
      label = tf.argmax(y_true, axis=-1, output_type=tf.int32)
    else:
      label = tf.reshape(tf.cast(y_true, tf.int32), [b])
    pred = tf.argmax(y_pred, axis=-1, output_type=tf.int32)
    out = {"accuracy": tf.cast(tf.equal(label, pred), tf.float32)}
    if self.channels > 5:
      # Out-of-range ids (ignore labels) are never in the top 5.
      safe = tf.clip_by_value(label, 0, self.channels - 1)
      top5 = tf.nn.in_top_k(safe, tf.cast(y_pred, tf.float32), 5)
      out["top5_accuracy"] = tf.cast(tf.logical_and(
          top5, tf.equal(safe, label)), tf.float32)
    return out

  def _binary(self, y_true, y_pred, w):
    b = tf.shape(y_pred)[0]
    y = tf.reshape(tf.cast(y_true, tf.float32), [b, self.labels])
    p = tf.reshape(tf.cast(y_pred, tf.float32), [b, self.labels])
    hit = tf.cast(tf.equal(y > 0.5, p > (0.0 if self.logits else 0.5)),
                  tf.float32)
    out = {"accuracy": tf.reduce_mean(hit, axis=1)}
    if self.labels > 1:
      out.update({f"accuracy/{k}": hit[:, k] for k in range(self.labels)})
    for k, auc in enumerate(self.aucs):
      keep = w > 0  # an unlabelled example's label may be anything
      auc.update_state(tf.where(keep, tf.clip_by_value(y[:, k], 0.0, 1.0),
                                0.0), tf.where(keep, p[:, k], 0.0),
                       sample_weight=w)
    return out

  def _dense_unlabelled(self, y_true, y_pred, w):
    """Labels with an unlabelled example's pixels marked as missing (the
    ignore id, depth 0, a zero normal), so dense metrics skip them."""
    if self.kind in ("segmentation", "motion"):
      missing = tf.cast(_IGNORE, y_true.dtype)
    else:
      missing = tf.zeros([], y_true.dtype)
    rank = tf.rank(y_true)
    keep = tf.reshape(w > 0, tf.concat(
        [tf.shape(w), tf.ones([rank - 1], tf.int32)], 0))
    return tf.where(keep, y_true, missing), y_pred

  def result(self) -> Dict[str, float]:
    means = self.means.result()
    out = {k: float(v) for k, v in means.items() if k != "count"}
    if "mse" in out:
      out["rmse"] = float(np.sqrt(out["mse"]))
    if self.aucs:
      per_label = [float(a.result()) for a in self.aucs]
      out["auc"] = float(np.mean(per_label))
      if len(per_label) > 1:
        out.update({f"auc/{k}": v for k, v in enumerate(per_label)})
    if self.metric is not None:
      for k, v in self.metric.result().items():
        if np.ndim(v) == 0 and k != "count":
          out[k] = float(v)
    return out


def headline_of(values: Dict[str, float], kind: Optional[str]) -> Dict:
  """The headline metrics of one task's results (what Δm and tables
  compare); a kind of None is read from the metrics the results hold
  (results files written before kinds were stored)."""
  if kind is None:
    kind = next((k for k, keys in HEADLINE.items() if k != "loss" and
                 all(m in values for m in keys)), "loss")
  return {k: values[k] for k in HEADLINE[kind] if k in values}
