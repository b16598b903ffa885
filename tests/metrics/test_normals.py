"""Surface-normal metrics against angles set by construction."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl import metrics
from tfmtl.metrics import normals


def rotated(angles_deg):
  """(0, 0, 1) rotated about x by each angle, scaled by 3 (the metric must
  normalise predictions)."""
  a = np.radians(np.asarray(angles_deg, np.float64))
  return 3.0 * np.stack([np.zeros_like(a), np.sin(a), np.cos(a)], -1)


def batch(angles, invalid=0):
  """[1, 1, N + invalid, 3] labels (+z, then zero = invalid) and preds."""
  n = len(angles) + invalid
  true = np.zeros((1, 1, n, 3), np.float32)
  true[0, 0, :len(angles), 2] = 1.0
  pred = np.ones((1, 1, n, 3), np.float32)
  pred[0, 0, :len(angles)] = rotated(angles)
  return true, pred


def test_by_hand():
  # Errors 10°, 20°, 40°, 90° (one invalid pixel dropped): mean 40, median
  # 30, 1/4 under 11.25°, 2/4 under 22.5° and under 30°.
  true, pred = batch([10, 20, 40, 90], invalid=1)
  got = normals.normal_errors(true, pred)
  assert got["mean_angle"] == pytest.approx(40.0, abs=1e-4)
  assert got["median_angle"] == pytest.approx(30.0, abs=1e-4)
  assert got["within_11.25"] == 0.25
  assert got["within_22.5"] == 0.5 and got["within_30"] == 0.5


def test_streaming_pools_pixels_and_bins_the_median():
  rng = np.random.default_rng(0)
  parts = [rng.uniform(0, 60, 7), rng.uniform(0, 60, 12)]
  metric = normals.NormalMetric()
  for angles in parts:
    metric.update_state(*batch(angles, invalid=2))
  got = {k: float(v) for k, v in metric.result().items()}
  every = np.concatenate(parts)
  assert got["mean_angle"] == pytest.approx(every.mean(), abs=1e-4)
  assert abs(got["median_angle"] - np.median(every)) <= normals.BIN
  for t in normals.THRESHOLDS:
    assert got[f"within_{t:g}"] == pytest.approx(np.mean(every < t))
  metric.reset_state()
  assert np.isnan(float(metric.result()["mean_angle"]))


def _binned_median(theta):
  """The streaming median, transcribed: the 0.01° bin k where the count
  first reaches half, then linear interpolation inside it."""
  h = np.bincount(np.minimum((theta / normals.BIN).astype(int),
                             normals.NUM_BINS - 1),
                  minlength=normals.NUM_BINS).astype(float)
  cum, half = np.cumsum(h), len(theta) / 2
  k = int(np.sum(cum < half))
  before = cum[k - 1] if k > 0 else 0.0
  return (k + np.clip((half - before) / max(h[k], 1.0), 0, 1)) * normals.BIN


@pytest.mark.parametrize("angles", [
    # Even count, lone bins: the bin where the count reaches half is the
    # lower middle's (20°), read at its upper edge — not the exact median
    # 30°, the mean of the two middle values; the docstring's "within
    # 0.01°" holds when the middle values are close (many pixels).
    [10.004, 20.0, 40.0, 90.0],
    [10.004, 10.006, 10.008, 25.0, 31.0],  # odd, the median's bin holds 3
    [0.0, 0.003, 179.999, 180.0],        # the first bin and the last (clamped)
])
def test_streaming_median_is_the_interpolated_bin(angles):
  """Within a bin the streaming median interpolates: exactly that value,
  not just "within a bin width" of the true median (a median off by one
  bin, or without the interpolation, would be within it too)."""
  true, pred = batch(angles)
  theta = normals.angular_errors(true, pred).numpy()
  metric = normals.NormalMetric()
  metric.update_state(true, pred)
  got = float(metric.result()["median_angle"])
  # Both from the same θ (float64): the same bins; the rest is a few
  # float64 operations.
  np.testing.assert_allclose(got, _binned_median(theta), rtol=0, atol=1e-12)


def test_streaming_median_interpolation_by_hand():
  # 4 errors 10.004, 10.006, 10.008 (bin 1000) and 25.0: half = 2, the
  # bins before hold 0, bin 1000 holds 3 → 10.00 + (2 / 3)·0.01.
  true, pred = batch([10.004, 10.006, 10.008, 25.0])
  metric = normals.NormalMetric()
  metric.update_state(true, pred)
  np.testing.assert_allclose(float(metric.result()["median_angle"]),
                             10.0 + 2 / 3 * 0.01, rtol=0, atol=1e-9)


def test_opposite_and_identical_normals():
  true, pred = batch([0.0, 180.0])
  got = normals.normal_errors(true, pred)
  assert got["mean_angle"] == pytest.approx(90.0, abs=1e-3)


def test_delta_m_directions():
  # Angles lower-is-better, "within" higher-is-better: 20° → 18° is +10 %,
  # 0.5 → 0.6 is +20 %, averaged over the task's two metrics: +15 %.
  base = {"normal": {"mean_angle": 20.0, "within_30": 0.5}}
  new = {"normal": {"mean_angle": 18.0, "within_30": 0.6}}
  assert metrics.delta_m(new, base) == pytest.approx(15.0)


def test_in_tf_function():
  true, pred = batch([10, 20])
  metric = normals.NormalMetric()
  tf.function(metric.update_state)(tf.constant(true), tf.constant(pred))
  assert float(metric.result()["mean_angle"]) == pytest.approx(15.0, abs=1e-3)


def test_mirrored_update_equals_single_device(mirrored):
  rng = np.random.default_rng(2)
  true = rng.normal(size=(4, 3, 5, 3)).astype(np.float32)
  true /= np.linalg.norm(true, axis=-1, keepdims=True)
  true[:, 0, :2] = 0  # invalid pixels
  pred = rng.normal(size=(4, 3, 5, 3)).astype(np.float32)
  single = normals.NormalMetric()
  single.update_state(true, pred)
  with mirrored.scope():
    dist = normals.NormalMetric()
  data = mirrored.experimental_distribute_dataset(
      tf.data.Dataset.from_tensor_slices((true, pred)).batch(4))

  @tf.function
  def update(batch):
    mirrored.run(dist.update_state, args=batch)

  for batch in data:
    update(batch)
  got, want = dist.result(), single.result()
  for k in want:
    assert float(got[k]) == pytest.approx(float(want[k])), k
