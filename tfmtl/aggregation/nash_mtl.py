"""Nash-MTL (Navon et al., ICML 2022)."""

import tensorflow as tf

from tfmtl.aggregation import solvers
from tfmtl.options import at_least


class NashMTL(solvers.GramianWeighted):
  r"""Multi-task learning as a bargaining game.

  The update is d = Σ_t α_t g_t with α > 0 the Nash bargaining solution

    (J Jᵀ) α = 1/α   (element-wise), i.e. α_t · g_tᵀd = 1 for every t,

  so each task's share of the progress is inversely proportional to its
  weight (paper, Theorem 3.1). The paper and its code approximate α by a
  sequence of cvxpy problems (20 concave-convex steps, ECOS, in float64,
  warm-started from the previous step's α); here α is the exact minimiser
  of ½αᵀGα − Σ log α found by damped Newton on the cosine matrix
  (`solvers.nash_weights`; the solution is invariant under diagonal
  scaling, so tasks whose gradient norms differ by 10⁴ cost no accuracy;
  ‖Gα − 1/α‖ / ‖1/α‖ < 1e-5 after 20 steps, tested). As in the official
  code, d is then clipped to norm `max_norm` (0 disables), scaling α with
  it. Output scale: set by the bargaining condition (‖d‖² = Σ_t 1 = T
  before clipping), not by the gradients' scale. The official code and
  LibMTL (weighting/Nash_MTL.py) solve on G / ‖G‖_F, so their α is
  √‖G‖_F times ours and their ‖d‖ = √(T‖G‖_F) before clipping: equal to
  ours after the clip when that exceeds max_norm, shorter (same direction)
  when it does not (tested). Configured task weights are ignored.

  The 2-D toy (tfmtl/toy2d.py): the official `experiments/toy/trainer.py`
  keeps `max_norm` = 1 (its toy passes no max_norm), and with an exact α
  clipping changes nothing under Adam: ‖d‖ = √T at every step, so the clip
  is the constant factor 1/√T, which Adam cancels. Our earlier solver ran
  Newton in float32 on G / mean(diag G) with a ridge of 1e-6 — in the toy's
  valley near (5.0, 2.5), where ‖g₁‖ ≈ 0.09 and ‖g₂‖ ≈ 400–2600 (G's
  condition 10⁷–10⁹), the ridge swamped ‖g₁‖² and α₁ came out 3–20× too
  small, ‖d‖ fell below 1, and the clip then acted on some steps and not
  others: the run from (9, 9) stalled there with max_norm = 1 and escaped
  with max_norm = 0. Solved on the cosine matrix, all 5 starts reach the
  Pareto front with either setting, as the paper's figure (tested from
  (9, 9)); the default stays 1, as the official code.

  References:
    Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik, Fetaya.
    "Multi-Task Learning as a Bargaining Game", ICML 2022, eq. (2),
    Algorithm 1; official code github.com/AvivNavon/nash-mtl (max_norm=1).

  Args:
    max_norm: clip ‖d‖ to this (the official default 1.0; 0 disables).
    iters: Newton steps.
  """

  limits = {"max_norm": at_least(0.0), "iters": at_least(1)}

  def __init__(self, max_norm: float = 1.0, iters: int = 20,
               name="nash_mtl"):
    super().__init__(name=name)
    self.max_norm, self.iters = float(max_norm), int(iters)

  def task_combination(self, G, J, **extra):
    alpha = solvers.nash_weights(G, self.iters)
    if self.max_norm > 0:
      norm = tf.sqrt(tf.maximum(
          tf.reduce_sum(alpha * tf.linalg.matvec(G, alpha)), 0.0))
      alpha *= tf.where(norm > self.max_norm, self.max_norm / norm, 1.0)
    return alpha
