"""MGDA: TorchJD's golden value and the min-norm KKT conditions."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation import solvers
from tfmtl.aggregation.mgda import MGDA


def test_golden_torchjd():
  # Source: TorchJD tests/unit/aggregation/test_values.py (MGDA(), J_base).
  J = tf.constant([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])
  np.testing.assert_allclose(MGDA()(J), [0.0, 1.0, 1.0], atol=1e-4)


def test_kkt_of_min_norm_point():
  # w solves min wᵀGw on the simplex iff (Gw)_i ≥ wᵀGw for all i, with
  # equality where w_i > 0 (Sener & Koltun 2018, eq. 3).
  rng = np.random.default_rng(0)
  for t in (2, 3, 5):
    J = rng.normal(size=(t, 7)).astype(np.float32)
    w = solvers.min_norm_weights(solvers.gramian(tf.constant(J))).numpy()
    G = J.astype(np.float64) @ J.T
    assert np.all(w >= -1e-6) and abs(w.sum() - 1) < 1e-5
    grad, value = G @ w, w @ G @ w
    scale = np.trace(G) / t
    assert np.all(grad >= value - 1e-4 * scale)
    np.testing.assert_allclose(grad[w > 1e-4], value, atol=1e-4 * scale)
    d = MGDA()(tf.constant(J)).numpy()
    assert np.all(J @ d >= d @ d - 1e-4 * scale)  # common descent direction
