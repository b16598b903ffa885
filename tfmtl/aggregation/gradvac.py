"""GradVac (Wang, Tsvetkov, Firat, Cao, ICLR 2021)."""

import tensorflow as tf

from tfmtl.aggregation import solvers
from tfmtl.aggregation.base import state
from tfmtl.errors import UserError


class GradVac(solvers.GramianWeighted):
  r"""Gradient Vaccine: pull each pair's cosine up to a running target.

  For each task i, starting from g_i^PC = g_i and going through the other
  tasks j (in the order i+1, …, T, 1, …, i−1):

    φ_ij = g_i^PCᵀ g_j / (‖g_i^PC‖‖g_j‖ + ε)
    if φ_ij < φ̂_ij:
      g_i^PC ← g_i^PC + ‖g_i^PC‖ (φ̂_ij √(1−φ_ij²) − φ_ij √(1−φ̂_ij²))
                        / (‖g_j‖ √(1−φ̂_ij²) + ε) · g_j
    φ̂_ij ← (1 − β) φ̂_ij + β φ_ij

  and d = Σ_i g_i^PC. The targets φ̂ (T×T, zero at the start) are state,
  checkpointed; with φ̂ = 0 the rule is PCGrad's projection. Computed on the
  Gramian: g_i^PC = Σ_k C_ik g_k is tracked by its coefficients C (exact).
  ε = 1e-8 as LibMTL and TorchJD. Whole-model granularity (the paper also
  has per-layer targets φ̂_ijk; LibMTL's `GradVac_group_type` 0).

  Output scale: like `sum` (Σ of T modified gradients, as LibMTL and
  TorchJD). Configured task weights are ignored on the shared variables.

  Differences: the paper, LibMTL and TorchJD visit the other tasks in a
  random order each step; here the order is fixed (cyclic), so eager,
  tf.function and every replica agree without a shared RNG (for T = 2 there
  is one order). The paper (Algorithm 1) and TorchJD update φ̂_ij at every
  visit; LibMTL (`LibMTL/weighting/GradVac.py`) only when the vaccine was
  applied (φ_ij < φ̂_ij) — `libmtl_ema=True` does that.

  References:
    Wang, Tsvetkov, Firat, Cao. "Gradient Vaccine: Investigating and
    Improving Multi-task Optimization in Massively Multilingual Models",
    ICLR 2021, eq. (3)-(4) and Algorithm 1.

  Args:
    beta: EMA rate of the targets (the paper's and LibMTL's 0.5).
    eps: the ε above.
    libmtl_ema: update φ̂_ij only when the vaccine was applied (LibMTL).
  """

  def __init__(self, beta: float = 0.5, eps: float = 1e-8,
               libmtl_ema: bool = False, name="gradvac"):
    super().__init__(name=name)
    if not 0.0 <= beta <= 1.0:
      raise UserError(f"gradvac: beta = {beta} must be in [0, 1]")
    self.beta, self.eps, self.libmtl_ema = float(beta), float(eps), libmtl_ema

  def build(self, tasks, num_params=None, shared_variables=None):
    super().build(tasks, num_params, shared_variables)
    t = len(tasks)
    self.targets = state(tf.zeros([t, t]), "gradvac_targets")

  def task_combination(self, G, J, **extra):
    t = G.shape[-1]
    if not hasattr(self, "targets"):  # unbuilt: state on first call (eager)
      self.targets = state(tf.zeros([t, t], G.dtype), "gradvac_targets")
    targets = tf.cast(self.targets, G.dtype)
    rows, new_targets = [], [[targets[i, j] for j in range(t)]
                             for i in range(t)]
    norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(G), 0.0))
    for i in range(t):
      c = tf.one_hot(i, t, dtype=G.dtype)
      cg = tf.linalg.matvec(G, c)  # g_i^PCᵀ g_k for every k
      for step in range(1, t):
        j = (i + step) % t
        norm_i = tf.sqrt(tf.maximum(tf.reduce_sum(cg * c), 0.0))
        phi = cg[j] / (norm_i * norms[j] + self.eps)
        hat = targets[i, j]
        apply = phi < hat
        w = norm_i * (hat * tf.sqrt(tf.maximum(1.0 - phi * phi, 0.0)) -
                      phi * tf.sqrt(tf.maximum(1.0 - hat * hat, 0.0))) / (
                          norms[j] * tf.sqrt(tf.maximum(1.0 - hat * hat, 0.0))
                          + self.eps)
        w = tf.where(apply, w, tf.zeros_like(w))
        c += w * tf.one_hot(j, t, dtype=G.dtype)
        cg += w * G[j]
        ema = (1.0 - self.beta) * hat + self.beta * phi
        new_targets[i][j] = tf.where(apply, ema, hat) if self.libmtl_ema \
            else ema
      rows.append(c)
    self.targets.assign(tf.cast(tf.stack([tf.stack(r) for r in new_targets]),
                                self.targets.dtype))
    return tf.reduce_sum(tf.stack(rows), axis=0)
