"""IMTL-G: TorchJD's golden value and equal projections on unit gradients."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation.imtl import IMTL


def test_golden_torchjd():
  # Source: TorchJD tests/unit/aggregation/test_values.py (IMTLG(), J_base).
  J = tf.constant([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])
  np.testing.assert_allclose(IMTL()(J), [0.0767, 1.0, 1.0], atol=1e-4)


def test_equal_projections_on_unit_gradients():
  # Liu et al. 2021 §3.2: dᵀu_t is the same for every task.
  rng = np.random.default_rng(0)
  for t in (2, 3, 4):
    J = rng.normal(size=(t, 8)).astype(np.float32)
    d = IMTL()(tf.constant(J)).numpy()
    u = J / np.linalg.norm(J, axis=1, keepdims=True)
    proj = u @ d
    np.testing.assert_allclose(proj, proj.mean(), atol=1e-4 * np.abs(d).max())
