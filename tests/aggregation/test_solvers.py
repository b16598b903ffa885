"""The shared solvers against brute force and their stated accuracy."""

import itertools

import numpy as np
import tensorflow as tf

from tfmtl.aggregation import solvers


def _brute_simplex(G, steps=400):
  # Exact on T = 3 by a fine barycentric grid.
  best, arg = np.inf, None
  for i, j in itertools.product(range(steps + 1), repeat=2):
    if i + j > steps:
      continue
    w = np.array([i, j, steps - i - j]) / steps
    v = w @ G @ w
    if v < best:
      best, arg = v, w
  return best


def test_exact_qp_matches_brute_force():
  J = np.random.default_rng(0).normal(size=(3, 4))
  G = J @ J.T
  w = solvers.min_norm_weights(tf.constant(G, tf.float32)).numpy()
  assert w @ G @ w <= _brute_simplex(G) + 1e-5


def test_fista_fallback_is_close():
  # T = 12 > MAX_EXACT_TASKS runs FISTA: the min-norm KKT conditions hold
  # to 1e-3 (relative to mean(diag G)) after 2000 steps.
  J = np.random.default_rng(1).normal(size=(12, 40))
  G = J @ J.T
  gn = G / (np.trace(G) / 12)
  w = solvers.qp(tf.constant(gn, tf.float32), tf.zeros([1, 12]),
                 tf.zeros([1, 12]), simplex=True, iters=2000)[0].numpy()
  grad, value = gn @ w, w @ gn @ w
  assert abs(w.sum() - 1) < 1e-5 and np.all(w >= 0)
  assert np.all(grad >= value - 1e-3)


def test_project_simplex_and_golden_section():
  v = tf.constant([[0.5, 0.5, 0.5], [2.0, -1.0, 0.0], [0.2, 0.1, 0.0]])
  p = solvers.project_simplex(v).numpy()
  np.testing.assert_allclose(p, [[1 / 3] * 3, [1, 0, 0],
                                 [0.4333333, 0.3333333, 0.2333333]], atol=1e-6)
  x = solvers.golden_section(lambda z: tf.square(z - 0.3), tf.constant(-2.0),
                             tf.constant(5.0))
  np.testing.assert_allclose(x, 0.3, atol=1e-5)
