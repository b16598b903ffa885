"""Surface-normal metrics (Eigen & Fergus, ICCV 2015; the NYUv2 set of
MTAN and LibMTL).

With n the true unit normal and n̂ the prediction normalised per pixel, the
angular error of a valid pixel (n ≠ 0) is θ = arccos(clip(⟨n̂, n⟩, −1, 1))
in degrees; pooled over every valid pixel of the evaluated set:

  mean_angle     mean θ                      (degrees, lower is better)
  median_angle   median θ                    (degrees, lower is better)
  within_11.25   fraction with θ < 11.25°    (higher is better)
  within_22.5    fraction with θ < 22.5°
  within_30      fraction with θ < 30°

LibMTL's `NormalMetric` computes the same from all errors kept in a list
(its median is exact); the streaming `NormalMetric` here keeps a histogram
of θ in 0.01° bins so it works under tf.distribute with fixed memory, and
reads the median by linear interpolation inside its bin (within 0.01° of
the exact median; `normal_errors` gives the exact value eagerly).
LibMTL marks a pixel valid when its normal's components sum to non-zero;
here when the normal is non-zero (see losses.normal).
"""

from typing import Dict

import keras
import numpy as np
import tensorflow as tf

HIGHER_IS_BETTER = {"mean_angle": False, "median_angle": False,
                    "within_11.25": True, "within_22.5": True,
                    "within_30": True}
THRESHOLDS = (11.25, 22.5, 30.0)
BIN = 0.01  # degrees
NUM_BINS = int(round(180.0 / BIN))


def angular_errors(y_true, y_pred):
  """θ in degrees (float64) of the valid pixels, flattened."""
  n = tf.reshape(tf.cast(y_true, tf.float64), [-1, 3])
  p = tf.reshape(tf.cast(y_pred, tf.float64), [-1, 3])
  valid = tf.reduce_any(n != 0, axis=-1)
  n, p = tf.boolean_mask(n, valid), tf.boolean_mask(p, valid)
  cos = tf.reduce_sum(tf.math.l2_normalize(p, axis=-1) * n, axis=-1)
  return tf.math.acos(tf.clip_by_value(cos, -1.0, 1.0)) * (180.0 / np.pi)


def normal_errors(y_true, y_pred) -> Dict[str, float]:
  """The five metrics of one set of predictions, exactly (eager)."""
  theta = angular_errors(y_true, y_pred).numpy()
  if theta.size == 0:
    return {k: float("nan") for k in HIGHER_IS_BETTER}
  out = {"mean_angle": float(theta.mean()),
         "median_angle": float(np.median(theta))}
  for t in THRESHOLDS:
    out[f"within_{t:g}"] = float(np.mean(theta < t))
  return out


class NormalMetric(keras.metrics.Metric):
  """Streaming normal metrics: sums and a 0.01° histogram of θ.

  Variables aggregate by SUM, so `strategy.run(metric.update_state, ...)`
  then `result()` equals the single-device result (create it in the
  strategy's scope).
  """

  higher_is_better = HIGHER_IS_BETTER

  def __init__(self, name="normal", **kwargs):
    super().__init__(name=name, **kwargs)
    # count, Σθ, #θ<11.25, #θ<22.5, #θ<30
    self.sums = self.add_variable(shape=(2 + len(THRESHOLDS),),
                                  initializer="zeros", dtype="float64",
                                  aggregation="sum", name="sums")
    self.histogram = self.add_variable(shape=(NUM_BINS,),
                                       initializer="zeros", dtype="float64",
                                       aggregation="sum", name="histogram")

  def update_state(self, y_true, y_pred, sample_weight=None):
    del sample_weight
    theta = angular_errors(y_true, y_pred)
    row = [tf.cast(tf.size(theta), tf.float64), tf.reduce_sum(theta)]
    row += [tf.reduce_sum(tf.cast(theta < t, tf.float64)) for t in THRESHOLDS]
    self.sums.assign_add(tf.stack(row))
    index = tf.minimum(tf.cast(theta / BIN, tf.int32), NUM_BINS - 1)
    self.histogram.assign_add(tf.math.bincount(
        index, minlength=NUM_BINS, maxlength=NUM_BINS, dtype=tf.float64))

  def result(self):
    s = tf.convert_to_tensor(self.sums)
    count = tf.maximum(s[0], 1.0)
    nan = tf.constant(np.nan, tf.float64)
    out = {"mean_angle": tf.where(s[0] > 0, s[1] / count, nan),
           "median_angle": tf.where(s[0] > 0, self._median(s[0]), nan)}
    for i, t in enumerate(THRESHOLDS):
      out[f"within_{t:g}"] = tf.where(s[0] > 0, s[2 + i] / count, nan)
    return out

  def _median(self, count):
    h = tf.convert_to_tensor(self.histogram)
    cum = tf.cumsum(h)
    half = count / 2.0
    k = tf.minimum(tf.reduce_sum(tf.cast(cum < half, tf.int32)),
                   NUM_BINS - 1)
    before = tf.where(k > 0, tf.gather(cum, tf.maximum(k - 1, 0)), 0.0)
    inside = tf.maximum(tf.gather(h, k), 1.0)
    frac = tf.clip_by_value((half - before) / inside, 0.0, 1.0)
    return (tf.cast(k, tf.float64) + frac) * BIN

  def reset_state(self):
    self.sums.assign(tf.zeros_like(self.sums))
    self.histogram.assign(tf.zeros_like(self.histogram))
