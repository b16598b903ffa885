"""Nash-MTL: the bargaining condition."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation import solvers
from tfmtl.aggregation.nash_mtl import NashMTL


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


def test_ill_conditioned_gramian_is_solved_exactly():
  # The 2-D toy's valley near (5.0, 2.7): ‖g₁‖ ≈ 0.09, ‖g₂‖ ≈ 2600 (G's
  # condition ~1e9). Reference: Newton in float64 to convergence.
  J = np.array([[0.0087, 0.0888], [2614.304, 91.6425]])
  G = J @ J.T
  alpha = solvers.nash_weights(tf.constant(G, tf.float32)).numpy()
  ref = 1.0 / np.sqrt(np.diag(G))
  for _ in range(200):
    grad = G @ ref - 1.0 / ref
    delta = np.linalg.solve(G + np.diag(1.0 / ref ** 2), grad)
    ref = ref - delta / (1.0 + np.sqrt(max(grad @ delta, 0.0)))
  np.testing.assert_allclose(alpha, ref, rtol=1e-4)
  np.testing.assert_allclose(np.linalg.norm(alpha @ J), np.sqrt(2.0),
                             rtol=1e-4)


def _bargaining_float64(G):
  """α > 0 with G α = 1/α, to round-off: damped Newton on
  ½αᵀGα − Σ log α in float64."""
  alpha = 1.0 / np.sqrt(np.diag(G))
  for _ in range(200):
    grad = G @ alpha - 1.0 / alpha
    delta = np.linalg.solve(G + np.diag(1.0 / alpha ** 2), grad)
    alpha = alpha - delta / (1.0 + np.sqrt(max(grad @ delta, 0.0)))
  return alpha


def _libmtl_nash_mtl(J, max_norm, ridge=0.0):
  """numpy transcription of LibMTL/weighting/Nash_MTL.py (one weight update,
  update_weights_every = 1): GTG = J Jᵀ / N, N = ‖J Jᵀ‖_F; α solves
  GTG α = 1/α — LibMTL approximates it by ≤ 20 cvxpy/ECOS concave-convex
  steps (stopping at ‖GTG α − 1/α‖ < 1e-3); here the same bargaining
  equations are solved to float64 round-off instead; d = Σ_t α_t g_t, then
  torch's clip_grad_norm_ (factor max_norm / (‖d‖ + 1e-6) when below 1)."""
  G = J @ J.T
  n = np.linalg.norm(G)
  # `ridge`: solvers.nash_weights' ridge on the cosine matrix (C + rI is
  # G + r·diag G), to compare with ours exactly.
  d = _bargaining_float64((G + ridge * np.diag(np.diag(G))) / n) @ J
  if max_norm > 0:
    d = d * min(1.0, max_norm / (np.linalg.norm(d) + 1e-6))
  return d, n


def test_one_step_matches_libmtl():
  """LibMTL/weighting/Nash_MTL.py, one step on random J, T = 2, 3, 4,
  against a float64 solution of the same bargaining equations (not its
  cvxpy iterates, which stop at a residual of 1e-3).

  Convention: LibMTL (as the official code) solves on G / ‖G‖_F, so its
  α is √‖G‖_F times the paper's (G α = 1/α, ours): without clipping its d
  is √‖G‖_F · ours (converted below). With max_norm = 1 both are clipped to
  norm 1 whenever LibMTL's ‖d‖ = √(T‖G‖_F) exceeds 1 (ours, √T, always
  does): the same d. Where √(T‖G‖_F) < 1 (small gradients) LibMTL does
  not clip and returns a shorter d than ours (same direction): a real
  difference in scale, checked as such at the end.
  """
  # In float64 and with our solver's ridge 1e-6 in the transcription too
  # (it moves d by ~1e-6), what is left is the same on every machine: where
  # 20 damped Newton steps stop, ≤ 1.2e-7 relative here; checked at 2e-6.
  rng = np.random.default_rng(2)
  for t in (2, 3, 4):
    J = rng.normal(size=(t, 7)) * rng.uniform(0.5, 3.0, (t, 1))
    want, n = _libmtl_nash_mtl(J, 0.0, ridge=1e-6)
    got = NashMTL(max_norm=0.0)(tf.constant(J, tf.float64)).numpy()
    np.testing.assert_allclose(np.sqrt(n) * got, want, rtol=2e-6, atol=2e-6)
    want, _ = _libmtl_nash_mtl(J, 1.0, ridge=1e-6)
    got = NashMTL(max_norm=1.0)(tf.constant(J, tf.float64)).numpy()
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)
  # Small gradients: LibMTL's ‖d‖ = √(T‖G‖_F) < 1 is not clipped; ours is.
  J = 0.05 * rng.normal(size=(3, 7))
  want, n = _libmtl_nash_mtl(J, 1.0)
  got = NashMTL(max_norm=1.0)(tf.constant(J, tf.float64)).numpy()
  np.testing.assert_allclose(np.linalg.norm(want), np.sqrt(3 * n), rtol=1e-5)
  assert np.linalg.norm(want) < 0.5
  np.testing.assert_allclose(np.linalg.norm(got), 1.0, rtol=1e-5)
  np.testing.assert_allclose(got / np.linalg.norm(got),
                             want / np.linalg.norm(want), atol=1e-5)


def test_toy_from_9_9_reaches_the_pareto_front_with_max_norm_1():
  # It stalled near (5.0, 2.7) when α was solved inaccurately (see the
  # docstring); the paper's run: Adam 1e-3, 35,000 steps.
  from tfmtl import toy2d  # pylint: disable=import-outside-toplevel
  res = toy2d.run("nash_mtl", iterations=35000, every=35000,
                  starts=[(9.0, 9.0)], jit_compile=True, max_norm=1.0)
  end = res["x"][0, -1]
  assert abs(end[1] - toy2d.PARETO_X2) < 0.1 and abs(end[0]) <= 7.1, end
