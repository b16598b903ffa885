"""GradVac (Wang, Tsvetkov, Firat, Cao, ICLR 2021)."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation import solvers
from tfmtl.aggregation.base import state
from tfmtl.options import at_least, between


class GradVac(solvers.GramianWeighted):
  r"""Gradient Vaccine: pull each pair's cosine up to a running target.

  For each task i, starting from g_i^PC = g_i and going through the other
  tasks j (by default in the order i+1, …, T, 1, …, i−1):

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

  Absent tasks (no labelled example in the step): the rule runs on the
  present tasks only — a present task visits the other present ones in its
  order (the absent ones are skipped, which is the cyclic order of the
  present sub-problem), an absent task adds no g^PC — and every target
  φ̂_ij with i or j absent stays as it was. Its α is logged 0.

  Differences: the paper, LibMTL and TorchJD visit the other tasks in a
  random order each step; here the default order is fixed (cyclic), so runs
  are reproducible (for T = 2 there is one order); `randomised=True` draws
  the orders from a stateless RNG keyed on (seed, step), so eager,
  tf.function and every replica still agree. The paper (Algorithm 1) and TorchJD update φ̂_ij at every
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
    randomised: random visiting orders (the paper) instead of the cyclic one.
    seed: seed of the random orders.
  """

  limits = {"beta": between(0.0, 1.0), "eps": at_least(0.0)}

  # The random visiting orders are keyed on the step.
  needs_when = {"step": lambda options: options["randomised"]}

  def __init__(self, beta: float = 0.5, eps: float = 1e-8,
               libmtl_ema: bool = False, randomised: bool = False,
               seed: int = 0, name="gradvac"):
    super().__init__(name=name)
    self.beta, self.eps, self.libmtl_ema = float(beta), float(eps), libmtl_ema
    self.randomised, self.seed = bool(randomised), int(seed)

  def build(self, tasks, num_params=None, shared_variables=None):
    super().build(tasks, num_params, shared_variables)
    t = len(tasks)
    self.targets = state(tf.zeros([t, t]), "gradvac_targets")

  def _orders(self, t, step):
    """[T, T−1] the order each task visits the others in."""
    fixed = np.array([[(i + k) % t for k in range(1, t)] for i in range(t)],
                     np.int32)
    if not self.randomised:
      return tf.constant(fixed)
    step = tf.constant(0, tf.int64) if step is None else step
    seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])
    keys = tf.random.stateless_uniform([t, t - 1], seed)
    return tf.gather(tf.constant(fixed), tf.argsort(keys, axis=-1),
                     batch_dims=1)

  def weights_from_gramian(self, G, J=None, present=None, **extra):
    """The pairwise targets are per task pair: absent tasks are skipped in
    the full problem (not cut out, which would renumber the pairs)."""
    w = self.task_combination(G, J, present=present, **extra)
    if hasattr(self, "alpha"):
      self.alpha.assign(tf.cast(w, tf.float32))
    return w

  def task_combination(self, G, J, step=None, present=None, **extra):
    t = G.shape[-1]
    if not hasattr(self, "targets"):  # unbuilt: state on first call (eager)
      self.targets = state(tf.zeros([t, t], G.dtype), "gradvac_targets")
    targets = tf.cast(self.targets, G.dtype)
    orders = self._orders(t, step)
    rows = []
    norms = tf.sqrt(tf.maximum(tf.linalg.diag_part(G), 0.0))
    for i in range(t):
      c = tf.one_hot(i, t, dtype=G.dtype)
      cg = tf.linalg.matvec(G, c)  # g_i^PCᵀ g_k for every k
      for k in range(t - 1):
        j = orders[i, k]
        norm_i = tf.sqrt(tf.maximum(tf.reduce_sum(cg * c), 0.0))
        phi = tf.gather(cg, j) / (norm_i * tf.gather(norms, j) + self.eps)
        hat = tf.gather(targets[i], j)
        apply = phi < hat
        root_hat = tf.sqrt(tf.maximum(1.0 - hat * hat, 0.0))
        w = norm_i * (hat * tf.sqrt(tf.maximum(1.0 - phi * phi, 0.0)) -
                      phi * root_hat) / (tf.gather(norms, j) * root_hat +
                                         self.eps)
        if present is not None:  # a pair with an absent task: no-op
          apply = tf.logical_and(
              apply, tf.logical_and(present[i], tf.gather(present, j)))
        w = tf.where(apply, w, tf.zeros_like(w))
        c += w * tf.one_hot(j, t, dtype=G.dtype)
        cg += w * tf.gather(G, j)
        ema = (1.0 - self.beta) * hat + self.beta * phi
        if self.libmtl_ema:
          ema = tf.where(apply, ema, hat)
        if present is not None:
          ema = tf.where(tf.logical_and(present[i], tf.gather(present, j)),
                         ema, hat)
        targets = tf.tensor_scatter_nd_update(
            targets, tf.reshape(tf.stack([tf.constant(i, j.dtype), j]),
                                [1, 2]), ema[None])
      rows.append(c if present is None else
                  c * tf.cast(present[i], G.dtype))
    self.targets.assign(tf.cast(targets, self.targets.dtype))
    return tf.reduce_sum(tf.stack(rows), axis=0)
