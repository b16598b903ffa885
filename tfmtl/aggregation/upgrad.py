"""UPGrad (Quinton & Rey, 2024)."""

import tensorflow as tf

from tfmtl.aggregation import solvers


class UPGrad(solvers.GramianWeighted):
  r"""Unconflicting projection of gradients onto the dual cone of J.

  Each g_t is projected onto the dual cone C = {x : J x ≥ 0} (the directions
  that conflict with no task), and the projections are averaged with the
  preference weights p (the configured task weights / T, so 1/T by default):

    p_t π_C(g_t) = Jᵀ v_t,  v_t = argmin_{v ≥ p_t e_t} vᵀ G v   (G = J Jᵀ)
    d = Σ_t p_t π_C(g_t) = Jᵀ Σ_t v_t

  (the dual of the projection problem, Prop. 1 of the paper). Each v_t is
  solved exactly by `solvers.qp` (active-set enumeration, float32 round-off;
  FISTA above 10 tasks). d has a non-negative inner product with every g_t.
  Output scale: like `mean` (the average of T projected gradients).

  References:
    Quinton, Rey. "Jacobian Descent for Multi-Objective Optimization",
    arXiv:2406.16232, 2024, §3 (A_UPGrad) and Appendix (dual formulation).
  """

  def __init__(self, name="upgrad"):
    super().__init__(name=name)

  def task_combination(self, G, J, **extra):
    gn, _ = solvers.normalise(G)
    t = G.shape[-1]
    pref = self.weights_for(G) / t
    lower = tf.linalg.diag(pref)
    v = solvers.qp(gn, tf.zeros_like(lower), lower)
    return tf.reduce_sum(v, axis=0)
