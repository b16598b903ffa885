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


def test_toy_from_9_9_reaches_the_pareto_front_with_max_norm_1():
  # It stalled near (5.0, 2.7) when α was solved inaccurately (see the
  # docstring); the paper's run: Adam 1e-3, 35,000 steps.
  from tfmtl import toy2d  # pylint: disable=import-outside-toplevel
  res = toy2d.run("nash_mtl", iterations=35000, every=35000,
                  starts=[(9.0, 9.0)], jit_compile=True, max_norm=1.0)
  end = res["x"][0, -1]
  assert abs(end[1] - toy2d.PARETO_X2) < 0.1 and abs(end[0]) <= 7.1, end
