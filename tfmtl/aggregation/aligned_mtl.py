"""Aligned-MTL (Senushkin et al., CVPR 2023)."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation import solvers


class AlignedMTL(solvers.GramianWeighted):
  r"""Independent component alignment: make the task gradients orthogonal
  and equally long, then combine them with preference weights p.

  With the Gramian G = J Jᵀ = V Λ Vᵀ (rank R, λ_R its least non-zero
  eigenvalue), the aligned gradient matrix is Ĵ = Bᵀ J with

    B = √λ_R · V Λ⁻¹ᐟ² Vᵀ   (on the R non-zero eigenvalues)

  so Ĵ Ĵᵀ = λ_R · I on the column space: a stable (condition number 1)
  system. The update is d = Ĵᵀ p = Jᵀ (B p). p is the configured task
  weights (ones by default: the official code sums the aligned gradients;
  TorchJD uses p = 1/T, i.e. half our output for T = 2). Eigenvalues below
  λ_max · T · ε_float32 count as zero; with rank 0, B = I. Exact up to the
  eigendecomposition's round-off. Output scale: √λ_R per unit of p, so the
  update shrinks with the smallest singular value of J.

  References:
    Senushkin, Patakin, Kuznetsov, Konushin. "Independent Component
    Alignment for Multi-Task Learning", CVPR 2023, Algorithm 1 and §4;
    official code github.com/SamsungLabs/MTL (ProcrustesSolver, scale 'min').
  """

  def __init__(self, name="aligned_mtl"):
    super().__init__(name=name)

  def task_combination(self, G, J, **extra):
    t = G.shape[-1]
    lam, v = tf.linalg.eigh(G)
    tol = tf.reduce_max(lam) * t * np.finfo(np.float32).eps
    mask = lam > tol
    lam_r = tf.reduce_min(tf.where(mask, lam, np.inf))
    inv_sqrt = tf.where(mask, tf.math.rsqrt(tf.where(mask, lam, 1.0)), 0.0)
    b = tf.sqrt(tf.where(tf.reduce_any(mask), lam_r, 1.0)) * tf.matmul(
        v * inv_sqrt[None, :], v, transpose_b=True)
    b = tf.where(tf.reduce_any(mask), b, tf.eye(t, dtype=G.dtype))
    return tf.linalg.matvec(b, self.weights_for(G))
