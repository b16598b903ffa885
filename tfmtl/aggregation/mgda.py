"""MGDA (Sener & Koltun, NeurIPS 2018)."""

import tensorflow as tf

from tfmtl.aggregation import solvers
from tfmtl.errors import UserError
from tfmtl.options import one_of

NORMALIZATIONS = ("none", "l2", "loss", "loss+")


class MGDA(solvers.GramianWeighted):
  r"""Multiple-gradient descent: the min-norm point of the tasks' hull.

  With the gradients first divided by normalisers n_t (the paper's official
  code and LibMTL's `mgda_gn`), ĝ_t = g_t / n_t:

    w* = argmin_{w ≥ 0, Σw = 1} ‖Σ_t w_t ĝ_t‖²
    d  = Σ_t w*_t ĝ_t = Σ_t (w*_t / n_t) g_t

  n_t = 1 ("none", the default, as the paper's analysis and TorchJD),
  ‖g_t‖ ("l2"), L_t ("loss": the losses must be positive) or L_t·‖g_t‖
  ("loss+"). With "none", −d decreases every task's loss (d·g_t ≥ ‖d‖² for
  all t), and d = 0 exactly at a Pareto-stationary point. The sub-problem
  is solved exactly (active-set enumeration, `solvers.qp`) instead of the
  paper's Frank-Wolfe iterations, up to float32 round-off for T ≤ 10.
  Output scale: a convex combination of the ĝ_t, like `mean`, not `sum`.
  Configured task weights are ignored. A task whose normaliser is 0 gets
  weight 0.

  Differences from LibMTL (`LibMTL/weighting/MGDA.py`): its T = 2 solution
  is the same closed form except at the ends, where it returns 0.999 / 0.001
  instead of 1 / 0; for T ≥ 3 its Frank-Wolfe stops at a change < 1e-5
  (or 250 steps), a few percent off the exact point at worst. With
  `rep_grad` LibMTL solves on normalised representation gradients but
  applies the weights to the *unnormalised* ones; here the weights are
  always w*_t / n_t, on whatever J (or Gramian) they were computed from.

  The MGDA-UB variant (the same problem on gradients w.r.t. the shared
  representation) is `mgda_ub` (mgda_ub.py).

  References:
    Sener, Koltun. "Multi-Task Learning as Multi-Objective Optimization",
    NeurIPS 2018, eq. (3), Algorithm 2 and its code's gradient normalizers.

  Args:
    normalization: "none", "l2", "loss" or "loss+" (see above).
  """

  limits = {"normalization": one_of(*NORMALIZATIONS)}

  needs_when = {"losses": lambda options: options.get("normalization") in
                ("loss", "loss+")}

  def __init__(self, normalization: str = "none", name="mgda"):
    super().__init__(name=name)
    self.normalization = normalization

  def task_combination(self, G, J, losses=None, **extra):
    if self.normalization == "none":
      return solvers.min_norm_weights(G)
    norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(G), 0.0))
    if self.normalization == "l2":
      n = norms
    else:
      if losses is None:
        raise UserError(f"mgda with normalization={self.normalization!r} "
                        "needs the task losses: call it with losses=")
      n = tf.cast(losses, G.dtype)
      if self.normalization == "loss+":
        n *= norms
    inv = tf.math.divide_no_nan(tf.ones_like(n), n)
    w = solvers.min_norm_weights(G * inv[:, None] * inv[None, :])
    return w * inv
