"""IMTL-G (Liu et al., ICLR 2021)."""

import tensorflow as tf

from tfmtl.aggregation import solvers


class IMTL(solvers.GramianWeighted):
  r"""Impartial MTL, gradient part: equal projections on every unit g_t.

  With u_t = g_t/‖g_t‖ the paper asks for d = Σ_t α_t g_t, Σ_t α_t = 1 and
  dᵀu_1 = dᵀu_t for all t, solved in closed form as
  α_{2:T} = g_1 Uᵀ (D Uᵀ)⁻¹ with D_t = g_1 − g_t, U_t = u_1 − u_t. In terms
  of the Gramian G = J Jᵀ the same condition reads G α ∝ (‖g_t‖)_t, so

    α = G⁺ n / Σ(G⁺ n),   n_t = √G_tt,   d = Jᵀα

  (the pseudo-inverse form of Quinton & Rey 2024, equal to the paper's
  closed form when the g_t are linearly independent). Output scale: Σα = 1,
  like `mean`. α = 0 when Σ(G⁺n) vanishes. Configured task weights are
  ignored.

  References:
    Liu, Li, Kuang, Xue, Chen, Yang, Liao, Zhang. "Towards Impartial
    Multi-task Learning", ICLR 2021, §3.2 (IMTL-G), eq. (8).
    Quinton, Rey. "Jacobian Descent for Multi-Objective Optimization", 2024,
    definition of A_IMTL-G.
  """

  def __init__(self, name="imtl"):
    super().__init__(name=name)

  def task_combination(self, G, J, **extra):
    gn, _ = solvers.normalise(G)
    v = tf.linalg.matvec(tf.linalg.pinv(gn),
                         tf.sqrt(tf.maximum(tf.linalg.diag_part(gn), 0.0)))
    total = tf.reduce_sum(v)
    return tf.where(tf.abs(total) > 1e-12, v / total, tf.zeros_like(v))
