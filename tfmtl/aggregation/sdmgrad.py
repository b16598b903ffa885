"""SDMGrad: stochastic direction-oriented multi-objective gradient descent
(Xiao, Ban, Ji, NeurIPS 2023)."""

import tensorflow as tf

from tfmtl.aggregation import present as present_mod
from tfmtl.aggregation.multi_batch import MultiBatch
from tfmtl.aggregation.solvers import project_simplex
from tfmtl.options import at_least


class SDMGrad(MultiBatch):
  r"""MGDA pulled toward the mean gradient, with a de-biased Gramian.

  Each step draws three independent batches with Jacobians J_ζ, J_ξ₁, J_ξ₂:

    G = J_ξ₁ J_ξ₂ᵀ / (s² + 1e-8),  s = mean_t √max(G_tt, 0)  (before scaling)
    b = λ · mean_columns(G)
    w ← `niter` steps of SGD (lr 5, momentum 0.5, fresh momentum each step)
        on ½wᵀGw + wᵀb (gradient Gw + b), each followed by Π_Δ
    d = (J_ζᵀ w + λ ḡ_ζ) / (1 + λ),   ḡ_ζ = mean_t (J_ζ)_t

  w persists across steps (init 1/T). Scale: mean-like (w sums to 1, and
  the mean gradient is the anchor). Task-specific variables get their
  gradient averaged over the three batches times the configured weight.
  The train step draws the three batches (`batches_per_step = 3`).

  Guard: when every diagonal entry of J_ξ₁ J_ξ₂ᵀ is ≤ 0, s = 0 and the
  scaled G is ~1e8·G; an iterate that overflows keeps the last finite w
  (LibMTL would carry NaN into the model).

  Absent tasks (no labelled example in the step; a task absent from any
  of the three batches is absent for the step): an absent task's w_t stays
  and it is left out of d. The present tasks P are the problem: s, the
  mean columns of G, ḡ_ζ and the simplex are over P, the iterations start
  from w̃ = w_P / Σ_{t ∈ P} w_t, and w_P ← (Σ_{t ∈ P} w_t) w̃ after them
  (Σ w = 1 still; see present.py).

  Differences from LibMTL/weighting/SDMGrad.py: its task-specific
  parameters accumulate the three batches' gradients (a sum, 3× the
  single-batch scale); we average, so they train at the scale every other
  method uses. The shared update is the same.

  References:
    Xiao, Ban, Ji. "Direction-oriented Multi-objective Learning: Simple and
    Provable Stochastic Algorithms", NeurIPS 2023; LibMTL's SDMGrad.

  Args:
    lamda: λ, the pull toward the mean (LibMTL `SDMGrad_lamda`, 0.3).
    niter: inner iterations on w (LibMTL `SDMGrad_niter`, 20).
  """

  # Absent tasks: see the docstring. State: w, logged as sdm_w/<task>.
  weights_attr, weights_state, log_prefix = "w", "w", "sdm_w"
  limits = {"lamda": at_least(0.0), "niter": at_least(1)}

  def __init__(self, lamda: float = 0.3, niter: int = 20, name="sdmgrad"):
    super().__init__(name=name)
    self.lamda, self.niter = lamda, int(niter)

  def __call__(self, J, jacobians=None, present=None, **extra):
    jacobians = self.batches(J, jacobians)
    zeta, xi1, xi2 = jacobians[0], jacobians[1], jacobians[2]
    gram = tf.matmul(xi1, xi2, transpose_b=True)
    roots = tf.sqrt(tf.maximum(tf.linalg.diag_part(gram), 0.0))
    w = self.kept_weights(J)
    if present is None:
      s = tf.reduce_mean(roots)
      gram = gram / (tf.square(s) + 1e-8)
      pull = self.lamda * tf.reduce_mean(gram, axis=1)
      project = project_simplex
    else:
      p = present_mod.mask(present, J.dtype)
      s = present_mod.present_mean(roots, p)
      gram = gram / (tf.square(s) + 1e-8)
      pull = self.lamda * present_mod.present_mean(tf.transpose(gram), p)
      old, (w, total) = w, present_mod.split_simplex(w, p)

      def project(v):
        return present_mod.project_present(v, p)
    buf = None
    for _ in range(self.niter):
      grad = tf.linalg.matvec(gram, w) + pull
      if present is not None:
        grad = grad * p
      buf = grad if buf is None else 0.5 * buf + grad
      moved = w - 5.0 * buf
      # When both batches' task gradients disagree in sign on every task,
      # s is 0 and G blows up: keep the last finite iterate.
      w = tf.where(tf.reduce_all(tf.math.is_finite(moved)),
                   project(tf.where(tf.math.is_finite(moved), moved,
                                    tf.zeros_like(moved))), w)
    kept = w if present is None else present_mod.merge_simplex(old, w,
                                                               total, p)
    self.keep(kept)
    if present is None:
      mean = tf.reduce_mean(zeta, axis=0)
    else:
      mean = present_mod.present_mean(zeta, p)
    d = tf.linalg.matvec(zeta, w, transpose_a=True) + self.lamda * mean
    return d / (1.0 + self.lamda)


