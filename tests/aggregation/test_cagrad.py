"""CAGrad: c = 0 is the mean, dual optimality."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation.cagrad import CAGrad


def test_c_zero_is_mean_and_rescale():
  J = np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32)
  # A float32 sum of T = 3 terms ≤ max|J|: ≤ 3·6e-8·max|J| off, whatever
  # cancels (relative to the mean it can't be bounded); checked at 2e-6.
  np.testing.assert_allclose(CAGrad(c=0.0)(tf.constant(J)), J.mean(0),
                             rtol=0, atol=2e-6 * np.abs(J).max())
  a = CAGrad(c=0.5)(tf.constant(J)).numpy()
  b = CAGrad(c=0.5, rescale=1)(tf.constant(J)).numpy()
  np.testing.assert_allclose(b, a / 1.25, rtol=1e-5)


def test_dual_is_minimised():
  # Two tasks: the dual objective over w = (s, 1 − s) on a fine grid is
  # never below the solver's.
  rng = np.random.default_rng(1)
  c = 0.4
  for _ in range(3):
    J = rng.normal(size=(2, 6)).astype(np.float64)
    g0 = J.mean(0)
    sphi = c * np.linalg.norm(g0)
    s = np.linspace(0, 1, 20001)[:, None]
    gw = s * J[0] + (1 - s) * J[1]
    grid = gw @ g0 + sphi * np.linalg.norm(gw, axis=1)
    d = CAGrad(c=c)(tf.constant(J, tf.float32)).numpy()
    # Recover g_w from d = g0 + sphi g_w/‖g_w‖ and compare objectives.
    direction = (d - g0) / sphi
    w0 = np.linalg.lstsq(J.T, direction, rcond=None)[0]
    w0 = w0 / w0.sum()
    gw_ours = w0 @ J
    ours = gw_ours @ g0 + sphi * np.linalg.norm(gw_ours)
    assert ours <= grid.min() + 1e-5


def _dual_grid(J, c):
  """min over w = (s, 1 − s) of g_wᵀg₀ + √φ‖g_w‖ on a fine grid (float64)."""
  g0 = J.mean(0)
  sphi = c * np.linalg.norm(g0)
  s = np.linspace(0, 1, 200001)[:, None]
  gw = s * J[0] + (1 - s) * J[1]
  return (gw @ g0 + sphi * np.linalg.norm(gw, axis=1)).min(), g0, sphi


def test_no_zero_step_away_from_pareto_stationarity():
  # Rows of very different norms (the 2-D toy from (9, 9) has ‖g₁‖ ≈ 0.07,
  # ‖g₂‖ ≈ 1600): the min-norm point of their hull is far from 0, so d must
  # not be 0 (it was, with a cutoff relative to the mean gradient size), and
  # it must be CAGrad's exact d.
  rng = np.random.default_rng(4)
  for small, big in ((0.07, 1600.0), (1e-3, 50.0), (1.0, 1e4)):
    u = rng.normal(size=(2, 5))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    J = np.stack([small * u[0], big * u[1]])
    # min-norm point of conv{g₁, g₂}
    p = np.clip((J[1] - J[0]) @ J[1] / np.sum((J[1] - J[0]) ** 2), 0, 1)
    assert np.linalg.norm(p * J[0] + (1 - p) * J[1]) > 0.1 * small
    for c in (0.4, 0.5):
      d = CAGrad(c=c)(tf.constant(J, tf.float32)).numpy()
      assert np.linalg.norm(d) > 0, (small, big, c)
      best, g0, sphi = _dual_grid(J, c)
      gw = (d - g0) / sphi  # = g_w*/‖g_w*‖
      # the worst task's improvement: CAGrad's primal value min_t g_tᵀd
      # equals the dual optimum (strong duality): g_0ᵀd − √φ‖d − g_0‖…
      # checked through the unit direction: it attains the dual minimum.
      np.testing.assert_allclose(np.linalg.norm(gw), 1.0, rtol=1e-3)
      s_grid = np.linspace(0, 1, 200001)[:, None]
      cand = s_grid * J[0] + (1 - s_grid) * J[1]
      cos = cand @ gw / np.maximum(np.linalg.norm(cand, axis=1), 1e-300)
      k = np.argmax(cos)
      ours = cand[k] @ g0 + sphi * np.linalg.norm(cand[k])
      assert ours <= best + 1e-5 * abs(best) + 1e-9, (small, big, c)


def test_opposite_gradients():
  # g₂ = −3g₁ (Pareto-stationary): F(p) = ‖g‖²(3 − 4p)(1 − c·sign(4p − 3))…
  # is least at p = 1, so d = g₀ + c‖g₀‖ g/‖g‖ = −(1 − c) g, not 0.
  g = np.array([1.0, -2.0, 0.5], np.float32)
  d = CAGrad(c=0.4)(tf.constant(np.stack([g, -3.0 * g])))
  np.testing.assert_allclose(d, -0.6 * g, rtol=1e-5)
  # g₂ = −g₁: g₀ = 0 and d = 0.
  d = CAGrad(c=0.4)(tf.constant(np.stack([g, -g])))
  np.testing.assert_allclose(d, 0.0, atol=1e-7)


def test_two_task_closed_form_matches_the_golden_section_solver():
  rng = np.random.default_rng(7)
  for _ in range(5):
    J = tf.constant(rng.normal(size=(2, 4)) * [[0.1], [3.0]], tf.float32)
    agg = CAGrad(c=0.4)
    G = tf.matmul(J, J, transpose_b=True)
    gn = G / (tf.linalg.trace(G) / 2.0)
    a = tf.linalg.matvec(gn, [0.5, 0.5])
    sqrt_phi = 0.4 * tf.sqrt(tf.reduce_sum(a * 0.5))
    from tfmtl.aggregation.cagrad import _dual_two_tasks
    np.testing.assert_allclose(_dual_two_tasks(gn, a, sqrt_phi),
                               agg._dual_golden(gn, a, sqrt_phi), atol=2e-4)


def test_no_zero_step_three_tasks_of_very_different_norms():
  # T = 3 (the golden-section path): rows of norms 0.07, 1600 and 3 in
  # random directions of R⁶, whose hull does not hold 0 — d ≠ 0.
  rng = np.random.default_rng(0)
  for _ in range(3):
    u = rng.normal(size=(3, 6))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    J = u * [[0.07], [1600.0], [3.0]]
    d = CAGrad(c=0.4)(tf.constant(J, tf.float32)).numpy()
    assert np.linalg.norm(d) > 0.5 * np.linalg.norm(J.mean(0))


def _normalised_dual(J, c=0.4):
  t = J.shape[0]
  J = tf.constant(J, tf.float32)
  G = tf.matmul(J, J, transpose_b=True)
  gn = G / (tf.linalg.trace(G) / t)
  mean = tf.fill([t], 1.0 / t)
  a = tf.linalg.matvec(gn, mean)
  return gn, a, c * tf.sqrt(tf.reduce_sum(a * mean))


def test_face_enumeration_matches_the_golden_section_solver():
  # T = 3..5: the exact face enumeration (the default for T ≤ 10) and the
  # golden section over QPs reach the same dual objective.
  from tfmtl.aggregation.cagrad import _dual_faces
  rng = np.random.default_rng(0)
  cases = [rng.normal(size=(t, 7)) * rng.uniform(0.1, 3, size=(t, 1))
           for t in (3, 3, 4, 5)]
  cases.append(rng.normal(size=(3, 2)))  # n < T: a singular Gramian
  # ‖g_w*‖ far below max_t ‖g_t‖ (two small, nearly opposite rows): the
  # golden section's bracket must reach down to it.
  cases.append(np.array([[0.126, -0.132, 0.64], [-0.12, 0.105, -0.622],
                         [10.432, 7.577, -5.63]]))
  for J in cases:
    gn, a, sqrt_phi = _normalised_dual(J)

    def objective(w):
      w = np.asarray(w, np.float64)
      g = gn.numpy().astype(np.float64)
      return a.numpy() @ w + sqrt_phi.numpy() * np.sqrt(max(w @ g @ w, 0.0))

    faces = _dual_faces(gn, a, sqrt_phi).numpy()
    golden = CAGrad()._dual_golden(gn, a, sqrt_phi).numpy()
    assert np.all(faces >= 0) and abs(faces.sum() - 1) < 1e-5
    assert objective(faces) <= objective(golden) + 1e-6
    # And the golden section reaches it too (its bracket on log τ ends
    # 0.618⁴⁰·14 = 6e-8 wide; the QPs are exact): both ways.
    assert objective(golden) <= objective(faces) + 1e-5


def test_zero_in_the_hull_of_three():
  # g₂ = −g₁ and g₀ = g₃/3: the dual's minimiser has g_w = 0, where the
  # objective is not smooth; d = 0 there (Pareto-stationary), not a step
  # along round-off.
  J = np.array([[1.0, 2.0, 0.0], [-1.0, -2.0, 0.0], [0.5, 0.1, 1.0]])
  np.testing.assert_allclose(CAGrad(c=0.4)(tf.constant(J, tf.float32)), 0.0,
                             atol=1e-6)


def _simplex_projection(v):
  u = np.sort(v)[::-1]
  css = np.cumsum(u) - 1.0
  k = np.nonzero(u - css / np.arange(1, len(v) + 1) > 0)[0][-1]
  return np.maximum(v - css[k] / (k + 1), 0.0)


def _libmtl_cagrad(J, calpha, rescale):
  """numpy transcription of LibMTL/weighting/CAGrad.py (float64).

  LibMTL minimises F(x) = xᵀA b + c·√(xᵀA x + 1e-8) over the simplex
  (A = J Jᵀ, b = 1/T, c = calpha·√(mean(A) + 1e-8) + 1e-8) with scipy's
  SLSQP from x = 1/T (default tolerance, ~1e-6 in F). scipy is not a
  dependency here; the same F is minimised to round-off by accelerated
  projected gradient with backtracking (its exact minimiser, which SLSQP
  approximates). Then d = mean(J) + c/(‖g_w‖ + 1e-8)·g_w, divided by
  1 + calpha² (rescale 1) or 1 + calpha (rescale 2).
  """
  t = J.shape[0]
  A = J @ J.T
  b = np.full(t, 1.0 / t)
  c = calpha * np.sqrt(A.mean() + 1e-8) + 1e-8

  def f(x):
    return x @ A @ b + c * np.sqrt(x @ A @ x + 1e-8)

  def grad(x):
    return A @ b + c * (A @ x) / np.sqrt(x @ A @ x + 1e-8)

  x = y = b.copy()
  step, mom = 1.0 / np.linalg.eigvalsh(A).max(), 1.0
  for _ in range(3000):
    while True:
      x_new = _simplex_projection(y - step * grad(y))
      diff = x_new - y
      if f(x_new) <= f(y) + grad(y) @ diff + diff @ diff / (2 * step) + 1e-15:
        break
      step *= 0.5
    mom_new = (1 + np.sqrt(1 + 4 * mom ** 2)) / 2
    y = x_new + (mom - 1) / mom_new * (x_new - x)
    x, mom = x_new, mom_new
  gw = x @ J
  g = J.mean(0) + c / (np.linalg.norm(gw) + 1e-8) * gw
  return g / {0: 1.0, 1: 1.0 + calpha ** 2, 2: 1.0 + calpha}[rescale]


def test_one_step_matches_libmtl():
  """LibMTL/weighting/CAGrad.py, one step on random J, T = 2, 3, 4, every
  `rescale` (LibMTL's default is 1, ours 0: the same options, named the
  same). Our c is LibMTL's calpha; √φ = c‖g_0‖ in both."""
  rng = np.random.default_rng(7)
  for t in (2, 3, 4):
    for rescale in (0, 1, 2):
      J = rng.normal(size=(t, 6))
      J[0] *= 3.0  # unequal norms: the dual's minimiser is not the mean
      want = _libmtl_cagrad(J, 0.5, rescale)
      got = CAGrad(c=0.5, rescale=rescale)(tf.constant(J, tf.float32))
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5,
                                 err_msg=f"T={t}, rescale={rescale}")


def test_norm_eps_is_relative_to_the_largest_gradient():
  """d = 0 exactly when ‖g_w*‖ ≤ norm_eps · max_t ‖g_t‖: with r that
  ratio (g_w* from a float64 grid of the dual, rows of norms 1 and 10),
  norm_eps = 1.05 r stops, 0.95 r does not (a threshold on another scale,
  e.g. the solver's G / mean(diag G), falls on the wrong side)."""
  u = np.array([1.0, 0.3, 0.0])
  J = np.stack([u / np.linalg.norm(u), -10.0 * np.array([1.0, 0.0, 0.1])])
  c = 0.4
  g0 = J.mean(0)
  sphi = c * np.linalg.norm(g0)
  s = np.linspace(0, 1, 200001)[:, None]
  gw = s * J[0] + (1 - s) * J[1]
  k = np.argmin(gw @ g0 + sphi * np.linalg.norm(gw, axis=1))
  r = np.linalg.norm(gw[k]) / 10.0
  assert 0.01 < r < 0.5  # neither 0 nor the largest gradient's size
  stop = CAGrad(c=c, norm_eps=1.05 * r)(tf.constant(J, tf.float32)).numpy()
  np.testing.assert_array_equal(stop, np.zeros(3))
  go = CAGrad(c=c, norm_eps=0.95 * r)(tf.constant(J, tf.float32)).numpy()
  np.testing.assert_allclose(go, g0 + sphi * gw[k] / np.linalg.norm(gw[k]),
                             rtol=1e-3, atol=1e-4)
