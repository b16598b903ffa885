"""ConFIG: conflict-free gradients (Liu, Chu, Thuerey, 2024)."""

import tensorflow as tf

from tfmtl.aggregation import solvers

_RCOND = 1e-6  # eigenvalues of the unit Gramian below this × the largest
               # are treated as 0 in its pseudo-inverse


class ConflictFree(solvers.GramianWeighted):
  r"""ConFIG: the direction with equal cosine to every task gradient.

  With unit gradients u_t = g_t/‖g_t‖ (U their matrix, zero rows for zero
  gradients) and preference p (the configured task weights, 1 by default):

    x = U⁺ p          (the min-norm x with u_t·x = p_t for all t)
    e = x / ‖x‖
    d = (Σ_t g_t·e) e

  so every task sees the same cosine with d (for equal p) and d's length is
  the sum of the gradients' projections on it. All of it follows from the
  Gramian: with N = diag(‖g_t‖), UUᵀ = N⁻¹GN⁻¹, a = (UUᵀ)⁺p and
  x = Uᵀa, ‖x‖² = aᵀUUᵀa, Σ_t g_t·x = 1ᵀGN⁻¹a, hence

    d = Jᵀw,   w = (1ᵀ G N⁻¹ a / aᵀUUᵀa) · N⁻¹ a.

  Output scale: sum convention (‖d‖ = Σ_t g_t·e; for T copies of one
  gradient g, d = T·g), as TorchJD and the official code.

  Versus TorchJD (`ConFIG`) and the official code (tum-pbs/ConFIG
  `conflictfree`): the same rule; they take the pseudo-inverse of the T×n
  matrix U (singular values below T·eps·σ_max dropped), this of the T×T
  unit Gramian (eigenvalues below 1e-6·λ_max dropped, i.e. singular values
  of U below 1e-3·σ_max: float32 Gramians carry ~1e-7 relative round-off,
  so smaller ones are noise). The two agree whenever the unit gradients are
  not nearly linearly dependent; working on the Gramian costs T² inner
  products and no n-sized SVD. Where they differ: two unit gradients
  within 2e-3 rad of opposite (1 + cos < 2e-6) give d = 0 here, while the
  official code returns a vector of length ~1e-3·‖g‖ (tested); within 2e-3
  rad of parallel both give the same d. The official code's `length_model`
  (`ProjectionLength`, the sum of projections) is the one used.

  References:
    Liu, Chu, Thuerey. "ConFIG: Towards Conflict-free Training of Physics
    Informed Neural Networks", arXiv:2408.11104, 2024, eq. (2).
  """

  def __init__(self, name="conflict_free"):
    super().__init__(name=name)

  def task_combination(self, G, J, **extra):
    norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(G), 0.0))
    inv = tf.where(norms > 0.0, 1.0 / tf.where(norms > 0.0, norms, 1.0), 0.0)
    unit = G * inv[:, None] * inv[None, :]  # U Uᵀ
    evals, evecs = tf.linalg.eigh(unit)
    keep = evals > _RCOND * tf.reduce_max(evals)
    inv_evals = tf.where(keep, 1.0 / tf.where(keep, evals, 1.0), 0.0)
    p = self.weights_for(G)
    a = tf.linalg.matvec(evecs, inv_evals * tf.linalg.matvec(
        evecs, p, transpose_a=True))
    sq_norm = tf.reduce_sum(a * tf.linalg.matvec(unit, a))
    length = tf.reduce_sum(tf.linalg.matvec(G, inv * a))
    ok = sq_norm > 1e-30
    scale = tf.where(ok, length / tf.where(ok, sq_norm, 1.0), 0.0)
    return scale * inv * a
