"""MGDA (Sener & Koltun, NeurIPS 2018)."""

from tfmtl.aggregation import solvers


class MGDA(solvers.GramianWeighted):
  r"""Multiple-gradient descent: the min-norm point of the tasks' hull.

    w* = argmin_{w ≥ 0, Σw = 1} ‖Σ_t w_t g_t‖² = argmin wᵀ(J Jᵀ)w
    d  = Σ_t w*_t g_t

  d is the common descent direction of Désidéri's MGDA: −d decreases every
  task's loss (d·g_t ≥ ‖d‖² for all t), and d = 0 exactly at a
  Pareto-stationary point. The sub-problem is solved exactly (active-set
  enumeration, `solvers.qp`) instead of the paper's Frank-Wolfe iterations,
  up to float32 round-off for T ≤ 10. Gradients are not normalised (the
  paper's "none" option, as TorchJD). Output scale: a convex combination of
  the g_t, like `mean`, not `sum`. Configured task weights are ignored.

  The MGDA-UB variant (the same problem on gradients w.r.t. the shared
  representation) is `mgda_ub` (mgda_ub.py).

  References:
    Sener, Koltun. "Multi-Task Learning as Multi-Objective Optimization",
    NeurIPS 2018, eq. (3) and Algorithm 2.
  """

  def __init__(self, name="mgda"):
    super().__init__(name=name)

  def task_combination(self, G, J, **extra):
    return solvers.min_norm_weights(G)
