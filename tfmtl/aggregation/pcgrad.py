"""PCGrad (Yu et al., NeurIPS 2020)."""

import itertools
import math

import numpy as np
import tensorflow as tf

from tfmtl.aggregation import solvers
from tfmtl.options import at_least


class PCGrad(solvers.GramianWeighted):
  r"""Projecting conflicting gradients ("gradient surgery").

  For each task i, starting from g_i^PC = g_i and going through the other
  tasks j in some order:

    if g_i^PCᵀ g_j < 0:   g_i^PC ← g_i^PC − (g_i^PCᵀ g_j / ‖g_j‖²) g_j

  and d = Σ_i g_i^PC. The paper draws the order at random each step. The
  default here is deterministic: g_i^PC is averaged over every order of the
  other tasks ((T−1)! orders; above `max_orders` of them, the T−1 cyclic
  rotations of the task list). For T = 2 the two forms coincide.
  `randomised=True` is the paper's form, one order per task and step drawn
  by a stateless RNG keyed on (seed, step), so eager, tf.function and every
  replica agree. Computed on the Gramian: each g_i^PC = Jᵀ c_i is tracked by
  its coefficients c_i (exact; no solver). LibMTL (weighting/PCGrad.py)
  shuffles all T tasks, i included, so late in the order it can project
  g_i^PC off g_i itself; we skip j = i as the paper's Algorithm 1 (equal
  to LibMTL whenever i comes first, tested).

  Output scale: like `sum` (Σ of T projected gradients). Configured task
  weights are ignored.

  References:
    Yu, Kumar, Gupta, Levine, Hausman, Finn. "Gradient Surgery for Multi-Task
    Learning", NeurIPS 2020, Algorithm 1.

  Args:
    randomised: draw the orders at random (the paper) instead of averaging.
    seed: seed of the random orders.
    max_orders: cap on (T−1)! for the averaged form.
  """

  limits = {"max_orders": at_least(1)}

  # The random orders are keyed on the step.
  needs_when = {"step": lambda options: options["randomised"]}

  def __init__(self, randomised: bool = False, seed: int = 0,
               max_orders: int = 720, name="pcgrad"):
    super().__init__(name=name)
    self.randomised, self.seed = bool(randomised), int(seed)
    self.max_orders = int(max_orders)

  def _fixed_orders(self, t):
    starts, orders = [], []
    for i in range(t):
      others = [j for j in range(t) if j != i]
      if math.factorial(t - 1) <= self.max_orders:
        perms = list(itertools.permutations(others))
      else:
        perms = [others[k:] + others[:k] for k in range(t - 1)]
      starts += [i] * len(perms)
      orders += [list(p) for p in perms]
    return (tf.constant(np.array(starts, np.int32)),
            tf.constant(np.array(orders, np.int32).reshape(len(starts), -1)),
            len(orders) // t)

  def task_combination(self, G, J, step=None, **extra):
    t = G.shape[-1]
    if self.randomised:
      step = tf.constant(0, tf.int64) if step is None else step
      seed = tf.stack([tf.constant(self.seed, tf.int64),
                       tf.cast(step, tf.int64)])
      orders = tf.argsort(tf.random.stateless_uniform([t, t], seed), axis=-1)
      starts, per_task = tf.range(t, dtype=tf.int32), 1
    else:
      starts, orders, per_task = self._fixed_orders(t)
    diag = tf.linalg.diag_part(G)
    coef = tf.one_hot(starts, t, dtype=G.dtype)
    for pos in range(orders.shape[1]):
      j = orders[:, pos]
      inner = tf.reduce_sum(tf.gather(G, j) * coef, axis=-1)
      conflict = tf.logical_and(inner < 0, tf.not_equal(j, starts))
      scale = tf.where(conflict,
                       tf.math.divide_no_nan(inner, tf.gather(diag, j)), 0.0)
      coef -= scale[:, None] * tf.one_hot(j, t, dtype=G.dtype)
    return tf.reduce_sum(coef, axis=0) / per_task
