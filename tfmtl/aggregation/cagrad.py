"""CAGrad (Liu, Liu, Jin, Stone, Liu, NeurIPS 2021)."""

import tensorflow as tf

from tfmtl.aggregation import solvers
from tfmtl.errors import UserError


class CAGrad(solvers.GramianWeighted):
  r"""Conflict-averse gradient descent.

  With g_0 = (1/T) Σ_t g_t and √φ = c‖g_0‖, CAGrad maximises the worst
  task's improvement in a ball around g_0; its dual (paper, Algorithm 1) is

    w* = argmin_{w ∈ simplex} g_wᵀ g_0 + √φ ‖g_w‖,   g_w = Σ_t w_t g_t
    d  = g_0 + (√φ / ‖g_w*‖) g_w*

  The paper's code solves the dual with scipy's SLSQP. Here
  √φ‖g_w‖ = min_{τ>0} (√φ/2)(‖g_w‖²/τ + τ) turns it into a QP in w for each
  τ (solved exactly, `solvers.qp`) and a convex problem in τ, minimised by
  40 golden-section steps on log τ ∈ [log(1e-6·τ_max), log τ_max],
  τ_max = max_t ‖g_t‖ ≥ ‖g_w‖: w* to float32 round-off (matches TorchJD's
  cvxpy values to 1e-4, tested). If ‖g_w*‖ < `norm_eps` (relative; a
  Pareto-stationary point) d = 0, as TorchJD. c = 0 gives the mean.

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
    norm_eps: threshold on ‖g_w‖ relative to √(mean_t ‖g_t‖²).
  """

  def __init__(self, c: float = 0.4, rescale: int = 0, norm_eps: float = 1e-4,
               name="cagrad"):
    super().__init__(name=name)
    if c < 0:
      raise UserError(f"cagrad: c = {c} must be >= 0")
    if rescale not in (0, 1, 2):
      raise UserError(f"cagrad: rescale = {rescale} must be 0, 1 or 2")
    self.c, self.rescale, self.norm_eps = float(c), rescale, norm_eps

  def task_combination(self, G, J, **extra):
    t = G.shape[-1]
    mean = tf.fill([t], 1.0 / t)
    if self.c == 0:
      return mean
    gn, _ = solvers.normalise(G)
    a = tf.linalg.matvec(gn, mean)
    sqrt_phi = self.c * tf.sqrt(tf.maximum(tf.reduce_sum(a * mean), 0.0))
    zeros = tf.zeros([1, t])

    def inner(log_tau):
      tau = tf.exp(log_tau)
      w = solvers.qp((sqrt_phi / tau) * gn, a[None], zeros, simplex=True)[0]
      gw2 = tf.reduce_sum(w * tf.linalg.matvec(gn, w))
      return w, tf.reduce_sum(a * w) + 0.5 * sqrt_phi * (gw2 / tau + tau)

    hi = tf.math.log(tf.sqrt(tf.reduce_max(tf.linalg.diag_part(gn))) + 1e-12)
    log_tau = solvers.golden_section(lambda x: inner(x)[1],
                                     hi + tf.math.log(1e-6), hi)
    w, _ = inner(log_tau)
    gw = tf.sqrt(tf.maximum(tf.reduce_sum(w * tf.linalg.matvec(gn, w)), 0.0))
    weights = tf.where(gw >= self.norm_eps,
                       mean + (sqrt_phi / tf.maximum(gw, 1e-30)) * w,
                       tf.zeros_like(w))
    if self.rescale == 1:
      weights /= 1.0 + self.c ** 2
    elif self.rescale == 2:
      weights /= 1.0 + self.c
    return weights
