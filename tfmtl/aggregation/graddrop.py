"""GradDrop (Chen et al., NeurIPS 2020)."""

from typing import Optional, Sequence

import tensorflow as tf

from tfmtl.aggregation.base import Aggregator
from tfmtl.errors import UserError
from tfmtl.options import between


class GradDrop(Aggregator):
  r"""Gradient sign dropout.

  For every coordinate k of the shared gradient, the positive sign purity
  P_k = ½ (1 + Σ_t g_tk / Σ_t |g_tk|) ∈ [0, 1] is the chance of keeping the
  positive parts; with U_k ~ Uniform(0, 1),

    M_tk = 1[P_k > U_k]·1[g_tk > 0] + 1[P_k < U_k]·1[g_tk < 0]
    d_k  = Σ_t (ℓ_t + (1 − ℓ_t) M_tk) g_tk

  with leak ℓ_t (0 by default: full dropout). The paper applies this to the
  gradients at one layer of activations, summed over the batch; like
  TorchJD, we apply it to the rows of J (the gradients w.r.t. the shared
  variables). U is drawn by a stateless RNG keyed on (seed, step), so eager,
  tf.function and every replica draw the same mask (an XLA-compiled step
  draws a different, equally valid mask: TF's stateless RNG is not
  bit-identical between XLA and the kernels). Coordinates where every
  g_tk = 0 get P = ½ and contribute 0. Output scale: like `sum`.

  References:
    Chen, Ngiam, Huang, Luong, Kretzschmar, Chai, Anguelov. "Just Pick a
    Sign: Optimizing Deep Multitask Models with Gradient Sign Dropout",
    NeurIPS 2020, Algorithm 1 lines 10-15.

  Args:
    seed: seed of the uniform draws.
    leak: per-task leak ℓ_t in [0, 1] (None: all 0).
  """

  needs = frozenset({"step"})

  limits = {"leak": between(0.0, 1.0)}

  def __init__(self, seed: int = 0, leak: Optional[Sequence[float]] = None,
               name="graddrop"):
    super().__init__(name=name)
    self.seed = int(seed)
    self.leak = None if leak is None else [float(x) for x in leak]

  def build(self, tasks, num_params=None, shared_variables=None):
    super().build(tasks, num_params, shared_variables)
    if self.leak is not None and len(self.leak) != len(tasks):
      raise UserError(f"graddrop: {len(self.leak)} leak values given for "
                      f"{len(tasks)} tasks {self.task_names}")

  def __call__(self, J, step=None, **extra):
    step = tf.constant(0, tf.int64) if step is None else step
    seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])
    purity = 0.5 * (1.0 + tf.math.divide_no_nan(
        tf.reduce_sum(J, axis=0), tf.reduce_sum(tf.abs(J), axis=0)))
    u = tf.random.stateless_uniform(tf.shape(purity), seed, dtype=J.dtype)
    keep = tf.logical_or(
        tf.logical_and(purity > u, J > 0), tf.logical_and(purity < u, J < 0))
    keep = tf.cast(keep, J.dtype)
    if self.leak is not None:
      leak = tf.constant(self.leak, J.dtype)[:, None]
      keep = leak + (1.0 - leak) * keep
    return tf.reduce_sum(keep * J, axis=0)
