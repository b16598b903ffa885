"""FairGrad (Ban & Ji, ICML 2024)."""

import tensorflow as tf

from tfmtl.aggregation import solvers
from tfmtl.options import at_least

_RIDGE = 1e-6


def fair_weights(G, alpha, iters=30):
  """w > 0 with G w = w^(−1/α) (element-wise), by damped Newton.

  w is the minimiser of the strictly convex
  f(w) = ½ wᵀGw − Σ_i h(w_i), h'(w) = w^(−1/α) (h = log for α = 1, where
  this is Nash-MTL's system). Newton steps w ← w − t·Δ, Δ = H⁻¹∇f,
  H = G + diag(w^(−1/α−1)/α), with t = 1/(1 + λ) (λ² = ∇fᵀΔ, the Newton
  decrement) cut to keep every w_i above a tenth of its value. Solved on
  Gn = G/s (s = mean diag G) and mapped back by w = v·s^(−α/(1+α)), which
  is exact since s c w = c^(−1/α) w^(−1/α) for c = s^(−α/(1+α)). Started
  from the orthogonal-gradient answer v_i = Gn_ii^(−α/(1+α)).
  """
  gn, s = solvers.normalise(G)
  t = G.shape[-1]
  gn = gn + _RIDGE * tf.eye(t, dtype=G.dtype)
  p = 1.0 / alpha
  v0 = tf.pow(tf.linalg.diag_part(gn), -alpha / (1.0 + alpha))

  def body(i, v):
    grad = tf.linalg.matvec(gn, v) - tf.pow(v, -p)
    hess = gn + tf.linalg.diag(p * tf.pow(v, -p - 1.0))
    delta = tf.linalg.solve(hess, grad[:, None])[:, 0]
    lam = tf.sqrt(tf.maximum(tf.reduce_sum(grad * delta), 0.0))
    room = tf.reduce_min(tf.where(delta > 0.0, 0.9 * v / delta, 1e30))
    return i + 1, v - tf.minimum(1.0 / (1.0 + lam), room) * delta

  _, v = tf.while_loop(lambda i, _: i < iters, body, (tf.constant(0), v0))
  return v * tf.pow(s, -alpha / (1.0 + alpha))


class FairGrad(solvers.GramianWeighted):
  r"""α-fair allocation of the update among the tasks.

  With G = J Jᵀ, d = Jᵀw where w > 0 solves

    G w = w^(−1/α)     (element-wise power)

  the optimality condition of maximising Σ_t u_t^(1−α)/(1−α) over the
  "utilities" u_t = g_tᵀd (α-fairness): α → 0 is the plain sum, α = 1
  proportional fairness (Nash-MTL's system without its normalisations),
  α → ∞ max-min fairness. α = 0 gives w = 1/T (TorchJD's convention; the
  equation is undefined there). Solver: damped Newton on the convex
  problem whose gradient is that equation (`fair_weights`, 30 fixed steps,
  in TensorFlow: runs under tf.function and XLA); the residual
  ‖Gw − w^(−1/α)‖ / ‖w^(−1/α)‖ is below 1e-5 on the tests' problems.
  Output scale: no normalisation (as the paper, LibMTL and TorchJD): the
  size of d follows from the equation (for one task, ‖d‖ = ‖g‖^((α−1)/(α+1))).
  Configured task weights are ignored.

  Versus LibMTL (LibMTL/weighting/FairGrad.py) and TorchJD (`FairGrad`):
  both call scipy `least_squares` on the residual Gw − w^(−1/α) from
  w = 1/T with bounds w ≥ 0 (default tolerances, in float64 on the host);
  this solves the same equation by Newton in float32 on the device. The
  two agree to ~1e-6 relative (tests: TorchJD's golden values, and
  scipy's roots for random J at α = 0.5 … 5). Unlike LibMTL, which refuses
  `rep_grad`, the rule only needs the Gramian, so it can run on the
  representation level too.

  References:
    Ban, Ji. "Fair Resource Allocation in Multi-Task Learning", ICML 2024,
    eq. (4) and Algorithm 1; code github.com/OptMN-Lab/fairgrad.

  Args:
    alpha: α ≥ 0, the fairness level (LibMTL's default: 1).
    iters: Newton steps.
  """

  limits = {"alpha": at_least(0.0), "iters": at_least(1)}

  def __init__(self, alpha: float = 1.0, iters: int = 30, name="fairgrad"):
    super().__init__(name=name)
    # (`self.alpha` is the base class's record of the last weights.)
    self.fair_alpha, self.iters = float(alpha), int(iters)

  def task_combination(self, G, J, **extra):
    t = G.shape[-1]
    if self.fair_alpha == 0.0:
      return tf.fill([t], tf.constant(1.0 / t, G.dtype))
    return fair_weights(G, self.fair_alpha, self.iters)
