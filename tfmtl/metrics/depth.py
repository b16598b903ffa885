"""Depth metrics over valid pixels (Eigen et al., NIPS 2014 set).

With g the ground-truth depth, p the prediction and V the valid pixels
(g > 0 and min_depth <= g <= max_depth), pooled over every valid pixel of the
evaluated set (not averaged per image):

  abs      = 1/|V| sum |p - g|                       (metres)
  abs_rel  = 1/|V| sum |p - g| / g                   (ARD; x100 gives ARD%)
  sq_rel   = 1/|V| sum (p - g)^2 / g
  rmse     = sqrt(1/|V| sum (p - g)^2)
  rmse_log = sqrt(1/|V| sum (log p - log g)^2)
  delta_k  = 1/|V| #{max(p/g, g/p) < 1.25^k},  k = 1, 2, 3

Seed 001 reports ARD within 3..80 m: `DepthMetric(min_depth=3, max_depth=80)`.
In log and ratio terms the prediction is floored at `eps` (a non-positive
prediction would otherwise give inf/NaN); with `clip_predictions=True` the
prediction is also clipped to [max(min_depth, eps), max_depth] everywhere,
as the Eigen / Godard evaluation scripts do. Fractions, not percent.
"""

import math

import keras
import tensorflow as tf

HIGHER_IS_BETTER = {"abs": False, "abs_rel": False, "sq_rel": False,
                    "rmse": False, "rmse_log": False, "delta1": True,
                    "delta2": True, "delta3": True}

_SUMS = ("count", "abs", "abs_rel", "sq_rel", "sq", "log_sq", "delta1",
         "delta2", "delta3")


def depth_sums(y_true, y_pred, min_depth=0.0, max_depth=math.inf, eps=1e-3,
               clip_predictions=False):
  """float64 [9] sums over valid pixels, in the order of `_SUMS`.

  Args:
    y_true: ground-truth depth, metres; 0 (or out of range) = invalid.
    y_pred: predicted depth with as many elements as `y_true`.
    min_depth, max_depth: valid ground-truth range (inclusive).
    eps: floor on the prediction inside log / ratio terms.
    clip_predictions: clip predictions to [max(min_depth, eps), max_depth].
  """
  g = tf.reshape(tf.cast(y_true, tf.float64), [-1])
  p = tf.reshape(tf.cast(y_pred, tf.float64), [-1])
  valid = (g > 0) & (g >= min_depth)
  if math.isfinite(max_depth):
    valid &= g <= max_depth
  g = tf.boolean_mask(g, valid)
  p = tf.boolean_mask(p, valid)
  if clip_predictions:
    p = tf.clip_by_value(p, max(min_depth, eps), max_depth)
  pos = tf.maximum(p, eps)
  diff = p - g
  ratio = tf.maximum(pos / g, g / pos)
  return tf.stack([
      tf.cast(tf.size(g), tf.float64),
      tf.reduce_sum(tf.abs(diff)),
      tf.reduce_sum(tf.abs(diff) / g),
      tf.reduce_sum(tf.square(diff) / g),
      tf.reduce_sum(tf.square(diff)),
      tf.reduce_sum(tf.square(tf.math.log(pos) - tf.math.log(g))),
  ] + [tf.reduce_sum(tf.cast(ratio < 1.25**k, tf.float64))
       for k in (1, 2, 3)])


def depth_from_sums(sums):
  """{abs, abs_rel, sq_rel, rmse, rmse_log, delta1..3, count} from sums.

  Every value is NaN when there is no valid pixel.
  """
  s = dict(zip(_SUMS, tf.unstack(tf.cast(sums, tf.float64))))
  n = s["count"]
  mean = lambda x: tf.where(n > 0, x / tf.maximum(n, 1.0),  # noqa: E731
                            tf.constant(math.nan, tf.float64))
  return {
      "abs": mean(s["abs"]), "abs_rel": mean(s["abs_rel"]),
      "sq_rel": mean(s["sq_rel"]), "rmse": tf.sqrt(mean(s["sq"])),
      "rmse_log": tf.sqrt(mean(s["log_sq"])), "delta1": mean(s["delta1"]),
      "delta2": mean(s["delta2"]), "delta3": mean(s["delta3"]), "count": n,
  }


def depth_errors(y_true, y_pred, **kwargs):
  """Eager dict of floats for one set of predictions; kwargs: depth_sums."""
  return {k: float(v.numpy())
          for k, v in depth_from_sums(depth_sums(y_true, y_pred,
                                                 **kwargs)).items()}


class DepthMetric(keras.metrics.Metric):
  """Streaming depth metrics (sums are SUM-aggregated ON_READ variables).

  Under a tf.distribute strategy create it in `strategy.scope()` and update
  it in `strategy.run`; the cross-replica read sums the replicas' pixels, so
  the result equals the single-device one.

  Args:
    min_depth, max_depth, eps, clip_predictions: see `depth_sums`.
    name: metric name.
  """

  higher_is_better = HIGHER_IS_BETTER

  def __init__(self, min_depth=0.0, max_depth=math.inf, eps=1e-3,
               clip_predictions=False, name="depth", **kwargs):
    super().__init__(name=name, **kwargs)
    self.min_depth = float(min_depth)
    self.max_depth = float(max_depth)
    self.eps = float(eps)
    self.clip_predictions = bool(clip_predictions)
    self.sums = self.add_variable(shape=(len(_SUMS),), initializer="zeros",
                                  dtype="float64", aggregation="sum",
                                  name="sums")

  def update_state(self, y_true, y_pred, sample_weight=None):
    """Adds a batch; invalid pixels are marked by the label (0)."""
    del sample_weight
    self.sums.assign_add(depth_sums(
        y_true, y_pred, self.min_depth, self.max_depth, self.eps,
        self.clip_predictions))

  def result(self):
    return depth_from_sums(tf.convert_to_tensor(self.sums))

  def reset_state(self):
    self.sums.assign(tf.zeros_like(self.sums))

  def get_config(self):
    return {**super().get_config(), "min_depth": self.min_depth,
            "max_depth": self.max_depth, "eps": self.eps,
            "clip_predictions": self.clip_predictions}
