"""Random Loss Weighting (Lin, Ye, Xu, Shi, Zhang, TMLR 2022)."""

import tensorflow as tf

from tfmtl.weighting.base import Weighting


class RLW(Weighting):
  r"""Fresh random weights every step.

    λ ~ N(0, I_T),   w = T · softmax(λ)

  (the paper's RLW with the normal distribution, scaled so Σw = T like the
  other methods here; the paper and LibMTL use Σw = 1). λ is drawn by a
  stateless RNG keyed on (seed, step): eager and tf.function runs, every
  replica, and a restart from a checkpoint all draw the same weights.

  References:
    Lin, Ye, Xu, Shi, Zhang. "Reasonable Effectiveness of Random Weighting:
    A Litmus Test for Multi-Task Learning", TMLR 2022, §3 (eq. 3).

  Args:
    seed: seed of the draws.
  """

  def __init__(self, seed: int = 0, name="rlw"):
    super().__init__(name=name)
    self.seed = int(seed)

  def __call__(self, losses, step):
    seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])
    draw = tf.random.stateless_normal([self.num_tasks], seed)
    return tf.cast(self.num_tasks * tf.nn.softmax(draw), losses.dtype)
