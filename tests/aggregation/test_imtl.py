"""IMTL-G: equal projections on unit gradients."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation.imtl import IMTL
from tfmtl.tasks import Task


def test_equal_projections_on_unit_gradients():
  # Liu et al. 2021 §3.2: dᵀu_t is the same for every task.
  rng = np.random.default_rng(0)
  for t in (2, 3, 4):
    J = rng.normal(size=(t, 8)).astype(np.float32)
    d = IMTL()(tf.constant(J)).numpy()
    u = J / np.linalg.norm(J, axis=1, keepdims=True)
    proj = u @ d
    np.testing.assert_allclose(proj, proj.mean(), atol=1e-4 * np.abs(d).max())


def _libmtl_imtl_g(J):
  """numpy transcription of the gradient part of LibMTL/weighting/IMTL.py:
  D_t = g_1 − g_t, U_t = u_1 − u_t (t ≥ 2, u = g/‖g‖),
  α_{2:T} = g_1 Uᵀ (D Uᵀ)⁻¹, α_1 = 1 − Σ α_{2:T}; d = Σ_t α_t g_t."""
  u = J / np.linalg.norm(J, axis=1, keepdims=True)
  D = J[:1] - J[1:]
  U = u[:1] - u[1:]
  alpha = J[0] @ U.T @ np.linalg.inv(D @ U.T)
  alpha = np.concatenate([[1 - alpha.sum()], alpha])
  return alpha, alpha @ J


def test_one_step_matches_libmtl():
  """LibMTL/weighting/IMTL.py, one step on random J at its first step: its
  loss scales start at s = 0, so exp(s)·L − s = L and its J is ours; the
  IMTL-L part (learned s) is tfmtl's `imtl_l` / `imtl_hybrid`. Same
  convention (Σα = 1)."""
  rng = np.random.default_rng(5)
  for t in (2, 3, 4):
    J = rng.normal(size=(t, 8))
    J[-1] *= 4.0  # unequal norms
    alpha, want = _libmtl_imtl_g(J)
    agg = IMTL()
    agg.build([Task(f"t{i}", None) for i in range(t)])
    got = agg(tf.constant(J, tf.float64)).numpy()
    np.testing.assert_allclose(agg.alpha.numpy(), alpha, rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
