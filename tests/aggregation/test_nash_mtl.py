"""Nash-MTL: TorchJD's golden value and the bargaining condition."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation import solvers
from tfmtl.aggregation.nash_mtl import NashMTL


def test_golden_torchjd():
  # Source: TorchJD tests/unit/aggregation/test_values.py
  # (NashMTL(n_tasks=2), max_norm 1 as the official code).
  J = tf.constant([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])
  np.testing.assert_allclose(NashMTL()(J), [0.0542, 0.7061, 0.7061],
                             atol=1e-4)


def test_bargaining_condition():
  # Navon et al. 2022, Theorem 3.1: G α = 1/α, to relative 1e-4.
  rng = np.random.default_rng(0)
  for t in (2, 3, 5):
    J = rng.normal(size=(t, 9)).astype(np.float32) * rng.uniform(0.1, 10, (t, 1))
    G = J.astype(np.float64) @ J.T
    alpha = solvers.nash_weights(tf.constant(G, tf.float32)).numpy()
    assert np.all(alpha > 0)
    residual = np.linalg.norm(G @ alpha - 1 / alpha) / np.linalg.norm(1 / alpha)
    assert residual < 1e-4, residual
    d = NashMTL(max_norm=0.0)(tf.constant(J)).numpy()
    np.testing.assert_allclose(alpha * (J @ d), 1.0, rtol=1e-3)
    assert np.linalg.norm(NashMTL(max_norm=1.0)(tf.constant(J))) <= 1 + 1e-5
