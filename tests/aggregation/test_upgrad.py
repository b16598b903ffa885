"""UPGrad: exact value, TorchJD's golden value, non-conflict."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation.upgrad import UPGrad


def test_exact_and_torchjd_values():
  # Exact by hand: G = [[18, −22], [−22, 38]]; projecting with lower bounds
  # (½, 0) and (0, ½) gives v₁ = (½, 11/38), v₂ = (11/18, ½), so
  # w = (10/9, 15/19) and d = Jᵀw = (0.2924, 1.9006, 1.9006).
  J = tf.constant([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])
  out = UPGrad()(J).numpy()
  w = np.array([10 / 9, 15 / 19])
  np.testing.assert_allclose(out, w @ J.numpy(), atol=1e-5)
  # Source: TorchJD tests/unit/aggregation/test_values.py gives
  # [0.2929, 1.9004, 1.9004]: it adds a 1e-4 ridge to G (reg_eps), so the
  # values agree to 1e-3, not 1e-4.
  np.testing.assert_allclose(out, [0.2929, 1.9004, 1.9004], atol=1e-3)


def test_non_conflicting_and_projections_in_dual_cone():
  # Quinton & Rey 2024, Prop. 2: J d ≥ 0.
  rng = np.random.default_rng(0)
  for t in (2, 3, 5):
    J = rng.normal(size=(t, 6)).astype(np.float32)
    d = UPGrad()(tf.constant(J)).numpy()
    assert np.all(J @ d >= -1e-4 * np.abs(J).max() ** 2), J @ d
