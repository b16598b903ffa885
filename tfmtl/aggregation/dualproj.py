"""DualProj (TorchJD; the projection of GEM, Lopez-Paz & Ranzato 2017)."""

import tensorflow as tf

from tfmtl.aggregation import solvers
from tfmtl.options import at_least


class DualProj(solvers.GramianWeighted):
  r"""The average gradient projected onto the dual cone of J.

  With preference p (the configured task weights / T, so 1/T by default)
  and the dual cone C = {x : J x ≥ 0} (directions that conflict with no
  task), d = π_C(Jᵀp), the Euclidean projection. By duality (Quinton & Rey,
  Prop. 1) d = Jᵀw with

    w = argmin_{v ≥ p} vᵀ G v,   G = J Jᵀ

  solved exactly by `solvers.qp` (active-set enumeration; FISTA above 10
  tasks). J d ≥ 0: the step decreases no task's loss less than to first
  order 0. It is UPGrad's rule applied once to the mean instead of to each
  g_t. Output scale: like `mean` (d = mean of the g_t when they already
  agree).

  Versus TorchJD (`DualProj`): the same problem; TorchJD solves it with
  quadprog on G / trace(G) + reg_eps·I with reg_eps = 1e-4, which moves the
  result by ~1e-3 (on its golden J, [0.5563, 1.1109, 1.1109] against the
  exact [0.5556, 1.1111, 1.1111]). Here `reg_eps` defaults to 0 (exact up
  to float32); `reg_eps=1e-4` reproduces TorchJD's numbers.

  References:
    Lopez-Paz, Ranzato. "Gradient Episodic Memory for Continual Learning",
    NeurIPS 2017, eq. (11) (the projection onto the dual cone).
    Quinton, Rey. "Jacobian Descent for Multi-Objective Optimization",
    arXiv:2406.16232, 2024 (A_DualProj and the dual formulation, Prop. 1).

  Args:
    reg_eps: ridge added to G / trace(G) before solving (TorchJD: 1e-4).
  """

  limits = {"reg_eps": at_least(0.0)}

  def __init__(self, reg_eps: float = 0.0, name="dualproj"):
    super().__init__(name=name)
    self.reg_eps = float(reg_eps)

  def task_combination(self, G, J, **extra):
    gn, _ = solvers.normalise(G)  # G / (trace/T)
    t = G.shape[-1]
    gn = gn + (self.reg_eps * t) * tf.eye(t, dtype=G.dtype)
    pref = (self.weights_for(G) / t)[None]
    return solvers.qp(gn, tf.zeros_like(pref), pref)[0]
