"""Aligned-MTL: TorchJD's golden value and the aligned Gramian."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation.aligned_mtl import AlignedMTL


def test_golden_torchjd():
  # Source: TorchJD tests/unit/aggregation/test_values.py gives
  # [0.2133, 0.9673, 0.9673] with preference 1/T; ours is the official
  # code's sum (preference ones), twice that for T = 2.
  J = tf.constant([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])
  np.testing.assert_allclose(AlignedMTL()(J), [0.4266, 1.9346, 1.9346],
                             atol=2e-4)


def test_aligned_gradients_are_orthogonal_and_equal():
  # Senushkin et al. 2023 §4: Ĵ = BᵀJ has Ĵ Ĵᵀ = λ_min I (condition number 1).
  J = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
  G = J.astype(np.float64) @ J.T
  agg = AlignedMTL()
  lam, v = np.linalg.eigh(G)
  B = np.sqrt(lam[0]) * v @ np.diag(lam ** -0.5) @ v.T
  aligned = B.T @ J
  np.testing.assert_allclose(aligned @ aligned.T, lam[0] * np.eye(3),
                             atol=1e-6 * lam.max())
  np.testing.assert_allclose(agg(tf.constant(J)), B.sum(1) @ J, rtol=1e-3,
                             atol=1e-4)
