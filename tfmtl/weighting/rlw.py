"""Random Loss Weighting (Lin, Ye, Xu, Shi, Zhang, TMLR 2022)."""

import tensorflow as tf

from tfmtl.weighting.base import Weighting, masked_softmax, num_present


class RLW(Weighting):
  r"""Fresh random weights every step.

    λ ~ N(0, I_T),   w = T · softmax(λ)

  (the paper's RLW with the normal distribution, scaled so Σw = T like the
  other methods here; the paper and LibMTL use Σw = 1). λ is drawn by a
  stateless RNG keyed on (seed, step): eager and tf.function runs, every
  replica, and a restart from a checkpoint all draw the same weights.

  Absent tasks (no labelled example in a step, `present`): all T values of
  λ are drawn as usual (the draws don't depend on who is present) and the
  softmax runs over the present tasks, w = P · softmax(λ_present) (RLW on
  the P-task problem, Σw = P); an absent task gets 0.

  References:
    Lin, Ye, Xu, Shi, Zhang. "Reasonable Effectiveness of Random Weighting:
    A Litmus Test for Multi-Task Learning", TMLR 2022, §3 (eq. 3).

  Args:
    seed: seed of the draws.
  """

  handles_absent = True

  def __init__(self, seed: int = 0, name="rlw"):
    super().__init__(name=name)
    self.seed = int(seed)

  def __call__(self, losses, step, present=None):
    seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])
    draw = tf.random.stateless_normal([self.num_tasks], seed)
    w = num_present(present, self.num_tasks) * masked_softmax(draw, present)
    return tf.cast(w, losses.dtype)
