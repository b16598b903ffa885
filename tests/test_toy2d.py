"""The 2-D toy of CAGrad / Nash-MTL (tfmtl/toy2d.py).

Short runs: Adam at lr 1e-2 for 8,000 steps covers the distance the papers'
lr 1e-3 covers in 35,000 (tools/toy2d.py draws the full runs).
"""

import numpy as np
import tensorflow as tf

from tfmtl import toy2d

LOWER = 5e-6


def _numpy_losses(x):
  """The toy written out again, from the issue's formulas (numpy, float64)."""
  x1, x2 = x[..., 0], x[..., 1]
  f1 = np.log(np.maximum(np.abs(0.5 * (-x1 - 7) - np.tanh(-x2)), LOWER)) + 6
  f2 = np.log(np.maximum(np.abs(0.5 * (-x1 + 3) + np.tanh(-x2) + 2),
                         LOWER)) + 6
  c1 = np.maximum(np.tanh(0.5 * x2), 0)
  c2 = np.maximum(np.tanh(-0.5 * x2), 0)
  q1 = ((7 - x1) ** 2 + 0.1 * (x2 + 8) ** 2) / 10 - 20
  q2 = ((x1 + 7) ** 2 + 0.1 * (x2 + 8) ** 2) / 10 - 20
  return np.stack([0.1 * (c1 * f1 + c2 * q1), c1 * f2 + c2 * q2], -1)


def _on_pareto_set(x, tol=0.1):
  return (np.abs(x[..., 1] - toy2d.PARETO_X2) < tol) & (
      np.abs(x[..., 0]) <= 7.0 + tol)


def test_losses_equal_a_numpy_transcription():
  pts = np.array([[9.0, 9.0], [-8.5, 7.5], [0.3, -0.7], [9.0, -1.0],
                  [2.0, -8.3552], [-7.5, -0.5], [1.234, 0.0]])
  got = toy2d.losses(tf.constant(pts)).numpy()
  np.testing.assert_allclose(got, _numpy_losses(pts), rtol=1e-12, atol=1e-12)
  got32 = toy2d.losses(tf.constant(pts, tf.float32)).numpy()
  np.testing.assert_allclose(got32, _numpy_losses(pts), rtol=1e-5, atol=1e-5)


def test_jacobian_is_the_losses_gradient():
  x = np.array([0.7, -1.3])
  _, J = toy2d.jacobian(tf.constant(x))
  eps = 1e-6
  num = np.stack([(_numpy_losses(x + eps * e) - _numpy_losses(x - eps * e)) /
                  (2 * eps) for e in np.eye(2)], -1)
  np.testing.assert_allclose(J.numpy(), num, rtol=1e-6, atol=1e-8)


def test_pareto_front_points_are_pareto_stationary():
  # On the Pareto set the two gradients are (nearly) opposite: the min-norm
  # point of their hull is ~0 next to the gradients; off it, it is not.
  def min_norm(x):
    _, J = toy2d.jacobian(tf.constant(x, tf.float64))
    g1, g2 = J.numpy()
    w = np.clip((g2 - g1) @ g2 / np.sum((g1 - g2) ** 2), 0.0, 1.0)
    return np.linalg.norm(w * g1 + (1 - w) * g2), np.linalg.norm(J.numpy(), 2)
  for x1 in (-5.0, 0.0, 5.0):
    d, scale = min_norm([x1, toy2d.PARETO_X2])
    assert d < 1e-2 * scale, (x1, d, scale)
    d, scale = min_norm([x1, -3.0])
    assert d > 0.05 * scale, (x1, d, scale)


def test_mgda_reaches_the_pareto_set_from_every_start():
  res = toy2d.run("mgda", iterations=8000, lr=1e-2, every=1000,
                  jit_compile=True)
  assert res["x"].shape == (5, 9, 2)
  np.testing.assert_allclose(res["x"][:, 0], np.array(toy2d.STARTS))
  assert _on_pareto_set(res["x"][:, -1]).all(), res["x"][:, -1]


def test_linear_scalarization_misses_it_from_9_9():
  for name in ("sum", "mean"):
    res = toy2d.run(name, iterations=8000, lr=1e-2, every=8000,
                    starts=[(9.0, 9.0)], jit_compile=True)
    assert not _on_pareto_set(res["x"][0, -1]), (name, res["x"][0, -1])


def test_loss_level_methods_run_with_their_state():
  res = toy2d.run("uncertainty", iterations=50, every=10,
                  starts=[(0.0, 0.0)])
  assert np.all(np.isfinite(res["x"])) and res["x"].shape == (1, 6, 2)
  np.testing.assert_allclose(
      res["losses"][0], _numpy_losses(res["x"][0].astype(np.float64)),
      rtol=1e-5, atol=1e-5)


def test_stateful_and_loss_reading_methods_run_on_the_toy():
  for name, kwargs in (("gradvac", {}), ("moco", {}), ("excess_mtl", {}),
                       ("mgda", {"normalization": "l2"})):
    # (Not at the origin: both losses are 0 there, and MoCo's step with them.)
    res = toy2d.run(name, iterations=20, every=10, starts=[(2.0, -1.0)],
                    **kwargs)
    assert np.all(np.isfinite(res["x"])), name
    assert np.any(res["x"][0, -1] != [2.0, -1.0]), name


def test_bad_requests_are_user_errors():
  import pytest  # pylint: disable=import-outside-toplevel
  from tfmtl.errors import UserError  # pylint: disable=import-outside-toplevel
  with pytest.raises(UserError, match="per-sample variance"):
    toy2d.run("prf", iterations=1)
  with pytest.raises(UserError, match="iterations"):
    toy2d.run("sum", iterations=0)


def test_cagrad_keeps_moving_from_9_9():
  # It used to return d = 0 with weights [0, 0] from about step 10k on
  # (‖g₁‖ ≈ 0.07, ‖g₂‖ ≈ 1600 there); the paper's run: Adam 1e-3.
  res = toy2d.run("cagrad", iterations=16000, every=4000, starts=[(9.0, 9.0)],
                  jit_compile=True)
  path = res["x"][0]
  assert np.linalg.norm(path[-1] - path[-2]) > 0.05, path
