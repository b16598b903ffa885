"""Depth metrics against values worked out by hand."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.metrics import depth

# Range 1.5..80 m: g = 0 (invalid), 1 (< min) and 100 (> max) are dropped,
# leaving (g, p) = (2, 1), (4, 5), (10, 10):
#   abs = (1 + 1 + 0)/3, abs_rel = (1/2 + 1/4 + 0)/3 = .25,
#   sq_rel = (1/2 + 1/4 + 0)/3 = .25, rmse = sqrt(2/3),
#   rmse_log = sqrt((ln 2^2 + ln 1.25^2)/3), ratios 2, 1.25, 1 ->
#   delta1 = 1/3 (1.25 is not < 1.25), delta2 = 2/3, delta3 = 2/3.
G = np.array([[2.0, 0.0, 4.0], [10.0, 100.0, 1.0]], np.float32)
P = np.array([[1.0, 7.0, 5.0], [10.0, 3.0, 2.0]], np.float32)
EXPECTED = {
    "abs": 2 / 3, "abs_rel": 0.25, "sq_rel": 0.25, "rmse": math.sqrt(2 / 3),
    "rmse_log": math.sqrt((math.log(2)**2 + math.log(1.25)**2) / 3),
    "delta1": 1 / 3, "delta2": 2 / 3, "delta3": 2 / 3, "count": 3,
}


def test_by_hand_with_range_and_invalid_pixels():
  got = depth.depth_errors(G, P, min_depth=1.5, max_depth=80)
  for k, v in EXPECTED.items():
    assert got[k] == pytest.approx(v), k


def test_without_range_only_zero_is_invalid():
  got = depth.depth_errors(G, P)
  assert got["count"] == 5
  # extra pairs (100, 3) and (1, 2): |97|/100 and |1|/1
  assert got["abs_rel"] == pytest.approx((0.75 + 0.97 + 1.0) / 5)


def test_clip_predictions_and_nonpositive_prediction():
  g = np.array([4.0, 4.0])
  p = np.array([0.0, 200.0])
  got = depth.depth_errors(g, p, min_depth=3, max_depth=80,
                           clip_predictions=True)
  # predictions clipped to 3 and 80
  assert got["abs"] == pytest.approx((1 + 76) / 2)
  got = depth.depth_errors(g, p)  # zero prediction floored at eps in logs
  assert np.isfinite(got["rmse_log"])


def test_no_valid_pixel_is_nan():
  got = depth.depth_errors(np.zeros(3), np.ones(3))
  assert got["count"] == 0 and math.isnan(got["abs_rel"])


def test_streaming_equals_one_shot():
  metric = depth.DepthMetric(min_depth=1.5, max_depth=80)
  metric.update_state(G[:1], P[:1])
  metric.update_state(G[1:], P[1:])
  out = metric.result()
  for k, v in EXPECTED.items():
    assert float(out[k]) == pytest.approx(v), k


def test_mirrored_update_equals_single_device(mirrored):
  rng = np.random.default_rng(1)
  g = rng.uniform(0, 90, (4, 3, 5, 1)).astype(np.float32)
  g[g < 10] = 0
  p = rng.uniform(1, 90, (4, 3, 5, 1)).astype(np.float32)
  single = depth.DepthMetric(min_depth=3, max_depth=80)
  single.update_state(g, p)
  with mirrored.scope():
    dist = depth.DepthMetric(min_depth=3, max_depth=80)
  data = mirrored.experimental_distribute_dataset(
      tf.data.Dataset.from_tensor_slices((g, p)).batch(4))

  @tf.function
  def update(batch):
    mirrored.run(dist.update_state, args=batch)

  for batch in data:
    update(batch)
  got, want = dist.result(), single.result()
  for k in want:
    assert float(got[k]) == pytest.approx(float(want[k])), k
