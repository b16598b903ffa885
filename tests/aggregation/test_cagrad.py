"""CAGrad: TorchJD's golden value, c = 0 is the mean, dual optimality."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation.cagrad import CAGrad


def test_golden_torchjd():
  # Source: TorchJD tests/unit/aggregation/test_values.py (CAGrad(c=0.5)).
  J = tf.constant([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])
  np.testing.assert_allclose(CAGrad(c=0.5)(J), [0.1835, 1.2041, 1.2041],
                             atol=1e-4)


def test_c_zero_is_mean_and_rescale():
  J = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
  np.testing.assert_allclose(CAGrad(c=0.0)(tf.constant(J)), J.mean(0),
                             rtol=1e-6)
  a = CAGrad(c=0.5)(tf.constant(J)).numpy()
  b = CAGrad(c=0.5, rescale=1)(tf.constant(J)).numpy()
  np.testing.assert_allclose(b, a / 1.25, rtol=1e-5)


def test_dual_is_minimised():
  # Two tasks: the dual objective over w = (s, 1 − s) on a fine grid is
  # never below the solver's.
  rng = np.random.default_rng(1)
  c = 0.4
  for _ in range(3):
    J = rng.normal(size=(2, 6)).astype(np.float64)
    g0 = J.mean(0)
    sphi = c * np.linalg.norm(g0)
    s = np.linspace(0, 1, 20001)[:, None]
    gw = s * J[0] + (1 - s) * J[1]
    grid = gw @ g0 + sphi * np.linalg.norm(gw, axis=1)
    d = CAGrad(c=c)(tf.constant(J, tf.float32)).numpy()
    # Recover g_w from d = g0 + sphi g_w/‖g_w‖ and compare objectives.
    direction = (d - g0) / sphi
    w0 = np.linalg.lstsq(J.T, direction, rcond=None)[0]
    w0 = w0 / w0.sum()
    gw_ours = w0 @ J
    ours = gw_ours @ g0 + sphi * np.linalg.norm(gw_ours)
    assert ours <= grid.min() + 1e-5
