"""Aligned-MTL: the aligned Gramian."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation.aligned_mtl import AlignedMTL


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


def _libmtl_aligned_mtl(J):
  """numpy transcription of LibMTL/weighting/Aligned_MTL.py: eigenvalues of
  M = J Jᵀ above max(λ)·T·ε (float32 ε, torch.finfo() default), sorted
  descending; B = √λ_min · V Λ^{-1/2} Vᵀ; α = Σ_rows B; d = Σ_t α_t g_t."""
  M = J @ J.T
  lam, V = np.linalg.eigh(M)
  tol = lam.max() * M.shape[0] * np.finfo(np.float32).eps
  keep = lam > tol
  lam, V = lam[keep], V[:, keep]
  order = np.argsort(-lam)
  lam, V = lam[order], V[:, order]
  B = np.sqrt(lam[-1]) * (V @ np.diag(1 / np.sqrt(lam)) @ V.T)
  return B.sum(0) @ J


def test_one_step_matches_libmtl():
  """LibMTL/weighting/Aligned_MTL.py, one step on random J (T = 2, 3, 4, and
  a rank-deficient T = 3). Same convention: both sum the aligned gradients
  (preference ones)."""
  rng = np.random.default_rng(3)
  cases = [rng.normal(size=(t, 7)) for t in (2, 3, 4)]
  low = rng.normal(size=(2, 7))
  cases.append(np.stack([low[0], low[1], 0.5 * low[0] - 2.0 * low[1]]))
  for J in cases:
    got = AlignedMTL()(tf.constant(J, tf.float32)).numpy()
    want = _libmtl_aligned_mtl(J)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_orthogonal_rows_weights_and_a_small_full_rank_eigenvalue():
  """Orthogonal rows of lengths 1 and 0.01: G = diag(1, 1e-4), full rank
  (1e-4 is far above the rank tolerance 2·ε·λ_max = 2.4e-7), λ_R = 1e-4,
  B = 0.01·diag(1, 100), so d = Jᵀ(B p) = 0.01 p_a g_a + p_b g_b: each
  aligned gradient has length √λ_R = 0.01, then weighted by p (the
  configured weights 2 and 0.5)."""
  from tfmtl.tasks import Task  # pylint: disable=import-outside-toplevel
  J = np.array([[0.6, 0.8, 0.0], [0.0, 0.0, 0.01]], np.float32)
  agg = AlignedMTL()
  agg.build([Task("a", lambda y, p: p, weight=2.0),
             Task("b", lambda y, p: p, weight=0.5)])
  d = agg(tf.constant(J)).numpy()
  # eigh of a diagonal float32 G: exact up to round-off ~1e-7 relative.
  np.testing.assert_allclose(d, 0.01 * 2.0 * J[0] + 0.5 * J[1], rtol=1e-5,
                             atol=1e-9)
