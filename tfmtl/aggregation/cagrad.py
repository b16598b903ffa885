"""CAGrad (Liu, Liu, Jin, Stone, Liu, NeurIPS 2021)."""

import tensorflow as tf

from tfmtl.aggregation import solvers
from tfmtl.options import at_least, one_of


class CAGrad(solvers.GramianWeighted):
  r"""Conflict-averse gradient descent.

  With g_0 = (1/T) Σ_t g_t and √φ = c‖g_0‖, CAGrad maximises the worst
  task's improvement in a ball around g_0; its dual (paper, Algorithm 1) is

    w* = argmin_{w ∈ simplex} g_wᵀ g_0 + √φ ‖g_w‖,   g_w = Σ_t w_t g_t
    d  = g_0 + (√φ / ‖g_w*‖) g_w*

  The paper's code solves the dual with scipy's SLSQP. Here it is exact:
  for T = 2 in closed form (`_dual_two_tasks`: F(p) on w = (p, 1 − p) is
  convex and its stationary point solves a quadratic); for T ≤ 10 by
  enumerating the simplex's faces (`_dual_faces`: on each face the
  stationary point solves a quadratic in the multiplier; one batched solve);
  above that, √φ‖g_w‖ = min_{τ>0} (√φ/2)(‖g_w‖²/τ + τ) turns the dual into a
  QP in w for each τ (solved exactly, `solvers.qp`) and a convex problem in
  τ, minimised by `iters` golden-section steps on log τ ∈
  [log(1e-6·τ_max), log τ_max], τ_max = max_t ‖g_t‖ ≥ ‖g_w‖. They match
  TorchJD's cvxpy values to 1e-4 and each other
  (tested). d is set to 0 only when ‖g_w*‖ ≤ `norm_eps`·max_t ‖g_t‖ (zero
  up to float32 round-off of g_w, which is then a direction of noise).
  ‖g_w*‖ is at least the norm of the min-norm point of the tasks' hull, so
  this can happen only at a Pareto-stationary point (0 in the hull; there
  CAGrad may still move, e.g. d = −(1 − c)g for g₂ = −3g₁, tested).
  TorchJD and our earlier versions cut off at ‖g_w‖ < 1e-4 absolute or
  relative to the *mean* gradient size, which froze training far from the
  Pareto set when one task's gradient is 10⁴× the other's (the 2-D toy from
  (9, 9): ‖g₁‖ ≈ 0.07, ‖g₂‖ ≈ 1600). c = 0 gives the mean.

  Output scale: like `mean` (d = g_0 when c = 0); `rescale` 1 divides by
  1 + c² and 2 by 1 + c, as the official code's options (its default is 1;
  the paper's Algorithm 1, and our default, is 0). Configured task weights
  are ignored.

  References:
    Liu, Liu, Jin, Stone, Liu. "Conflict-Averse Gradient Descent for
    Multi-task Learning", NeurIPS 2021, eq. (5) and Algorithm 1.

  Args:
    c: radius of the ball, relative to ‖g_0‖ (0.4 / 0.5 in the paper).
    rescale: 0, 1 or 2 (see above).
    norm_eps: d = 0 when ‖g_w*‖ ≤ norm_eps · max_t ‖g_t‖.
    iters: golden-section steps (T > 10 only).
  """

  limits = {"c": at_least(0.0), "rescale": one_of(0, 1, 2),
            "norm_eps": at_least(0.0), "iters": at_least(1)}

  def __init__(self, c: float = 0.4, rescale: int = 0, norm_eps: float = 1e-6,
               iters: int = 40, name="cagrad"):
    super().__init__(name=name)
    self.c, self.rescale, self.norm_eps = float(c), rescale, float(norm_eps)
    self.iters = int(iters)

  def task_combination(self, G, J, **extra):
    t = G.shape[-1]
    mean = tf.fill([t], 1.0 / t)
    if self.c == 0:
      return mean
    gn, scale = solvers.normalise(G)
    a = tf.linalg.matvec(gn, mean)
    sqrt_phi = self.c * tf.sqrt(tf.maximum(tf.reduce_sum(a * mean), 0.0))
    if t == 2:
      w = _dual_two_tasks(gn, a, sqrt_phi)
    elif t <= solvers.MAX_EXACT_TASKS:
      w = _dual_faces(gn, a, sqrt_phi)
    else:
      w = self._dual_golden(gn, a, sqrt_phi)
    # ‖g_w‖ and max_t ‖g_t‖ on G/s's scale; from J when the step has it (no
    # cancellation in wᵀGw when g_w is tiny next to the g_t).
    if J is None:
      gw2 = tf.reduce_sum(w * tf.linalg.matvec(gn, w))
      gmax2 = tf.reduce_max(tf.linalg.diag_part(gn))
    else:
      gw2 = tf.reduce_sum(tf.square(
          tf.linalg.matvec(J, w, transpose_a=True))) / scale
      gmax2 = tf.reduce_max(tf.reduce_sum(tf.square(J), axis=1)) / scale
    gw = tf.sqrt(tf.maximum(gw2, 0.0))
    stationary = gw <= self.norm_eps * tf.sqrt(tf.maximum(gmax2, 0.0))
    weights = tf.where(stationary, tf.zeros_like(w),
                       mean + (sqrt_phi / tf.maximum(gw, 1e-30)) * w)
    if self.rescale == 1:
      weights /= 1.0 + self.c ** 2
    elif self.rescale == 2:
      weights /= 1.0 + self.c
    return weights

  def _dual_golden(self, gn, a, sqrt_phi):
    """Golden section on log τ over exact QPs (T > MAX_EXACT_TASKS)."""
    t = gn.shape[-1]
    zeros = tf.zeros([1, t])

    def inner(log_tau):
      tau = tf.exp(log_tau)
      w = solvers.qp((sqrt_phi / tau) * gn, a[None], zeros, simplex=True)[0]
      gw2 = tf.reduce_sum(w * tf.linalg.matvec(gn, w))
      return w, tf.reduce_sum(a * w) + 0.5 * sqrt_phi * (gw2 / tau + tau)

    hi = tf.math.log(tf.sqrt(tf.reduce_max(tf.linalg.diag_part(gn))) + 1e-12)
    log_tau = solvers.golden_section(lambda x: inner(x)[1],
                                     hi + tf.math.log(1e-6), hi,
                                     iters=self.iters)
    return inner(log_tau)[0]


def _dual_two_tasks(G, a, sqrt_phi):
  r"""The exact minimiser of F(p) = aᵀw + √φ‖g_w‖, w = (p, 1 − p), T = 2.

  With q(p) = ‖g_w‖² = A p² + 2B p + C (A = ‖g₁ − g₂‖², B = g₁ᵀg₂ − ‖g₂‖²,
  C = ‖g₂‖²), y = A p + B and D = AC − B² = ‖g₁‖²‖g₂‖² − (g₁ᵀg₂)² ≥ 0,
  q = (y² + D)/A and F'(p) = Δa + √φ·y√A/√(y² + D), Δa = a₁ − a₂, is
  increasing in y (F is convex). With r = −Δa/√φ: if |r| < √A the root is
  y = r·√(D/(A − r²)), else F is monotone and the minimiser is an end of
  [0, 1] (p = 1 when r ≥ √A); the convex F's minimiser on [0, 1] is the root
  clipped to it. The weights are formed as w₁ = (y − B)/A and w₂ =
  (A + B − y)/A (both differences of G's entries, no 1 − p round-off).
  """
  g11, g12, g22 = G[0, 0], G[0, 1], G[1, 1]
  big_a = tf.maximum(g11 + g22 - 2.0 * g12, 0.0)
  b = g12 - g22
  d = tf.maximum(g11 * g22 - g12 * g12, 0.0)
  r = -(a[0] - a[1]) / tf.maximum(sqrt_phi, 1e-30)
  root_a = tf.sqrt(big_a)
  inside = tf.abs(r) < root_a
  y = tf.where(
      inside,
      r * tf.sqrt(d / tf.maximum(big_a - r * r, 1e-30)),
      tf.where(r >= root_a, big_a + b, b))  # p = 1 or p = 0
  y = tf.clip_by_value(y, b, big_a + b)
  safe_a = tf.maximum(big_a, 1e-30)
  w = tf.stack([(y - b) / safe_a, (big_a + b - y) / safe_a])
  # g₁ = g₂ (A = 0): F is constant in p; the mean.
  return tf.where(big_a > 1e-12, w, tf.fill([2], 0.5))


def _dual_faces(G, a, sqrt_phi):
  r"""The exact dual minimiser for small T, by enumerating the simplex's faces.

  The minimiser lies in the relative interior of some face F (its support).
  There, with s = ‖g_w‖ > 0, stationarity a_F + √φ G_F w / s = ν1 gives
  w = (s/√φ)(ν u − v), u = G_F⁻¹1, v = G_F⁻¹a_F; wᵀG_F w = s² and Σw = 1
  then give A ν² − 2Bν + C − φ = 0 (A = 1ᵀu, B = 1ᵀv, C = a_Fᵀv) with the
  root ν = (B + √Δ)/A, Δ = B² − A(C − φ), and w = (ν u − v)/√Δ,
  s = √φ/√Δ. Every face's candidate comes from one batched solve (as
  `solvers.qp`); the feasible one (w ≥ 0, Δ > 0) of least objective
  aᵀw + √φ s is the minimiser. A ridge of 1e-6·mean(diag G) keeps G_F
  invertible when gradients are collinear; the exact min-norm point is a
  further candidate, for minimisers with g_w = 0.
  """
  t = G.shape[-1]
  free = tf.constant(solvers._free_sets(t, simplex=True))  # pylint: disable=protected-access
  eye = tf.eye(t, dtype=G.dtype)
  g = G + (1e-6 * tf.reduce_mean(tf.linalg.diag_part(G)) + 1e-20) * eye
  f3 = free[:, :, None]
  mat = f3 * g[None] * tf.transpose(f3, [0, 2, 1]) + (1.0 - f3) * eye[None]
  rhs = tf.stack([free, free * a[None]], axis=-1)  # [S, T, 2]
  sol = tf.linalg.solve(mat, rhs)
  u, v = sol[..., 0] * free, sol[..., 1] * free
  big_a = tf.reduce_sum(u, -1)
  big_b = tf.reduce_sum(v, -1)
  big_c = tf.reduce_sum(v * a[None], -1)
  phi = sqrt_phi * sqrt_phi
  disc = big_b * big_b - big_a * (big_c - phi)
  root = tf.sqrt(tf.maximum(disc, 1e-30))
  nu = (big_b + root) / tf.where(tf.abs(big_a) > 1e-30, big_a, 1e-30)
  w = (nu[:, None] * u - v) / root[:, None]
  obj = tf.reduce_sum(w * a[None], -1) + sqrt_phi * sqrt_phi / root
  ok = tf.logical_and(tf.reduce_all(w >= -1e-5, axis=-1),
                      tf.logical_and(disc > 0, big_a > 0))
  ok = tf.logical_and(ok, tf.reduce_all(tf.math.is_finite(w), axis=-1))
  obj = tf.where(ok, obj, tf.fill(tf.shape(obj), float("inf")))
  w = tf.gather(w, tf.argmin(obj))
  w = tf.maximum(w, 0.0)
  w = w / tf.reduce_sum(w)
  # A minimiser with g_w = 0 (0 in the hull, where the objective is not
  # smooth) is only approached to O(√ridge) by the candidates above; the
  # exact min-norm point is then the minimiser: keep the better of the two.
  mn = solvers.min_norm_weights(G)

  def objective(x):
    return tf.reduce_sum(x * a) + sqrt_phi * tf.sqrt(
        tf.maximum(tf.reduce_sum(x * tf.linalg.matvec(G, x)), 0.0))

  return tf.where(objective(mn) <= objective(w), mn, w)
