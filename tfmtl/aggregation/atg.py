r"""Vanilla auxiliary-task guidance (ATG): the weighted sum, roles explicit.

    d = Σ_{t ∈ main} w_t g_t + Σ_{a ∈ aux} w_a g_a

Auxiliary tasks guide the shared layers with their configured weight; their
own variables get w_a ∇L_a (the train step applies that for every task). This
is PRF's baseline: PRF replaces w_a by β_a = w_a · ratio elementwise.

References:
  Al Hasib et al., "Boosting auxiliary task guidance: a probabilistic
  approach", IAES IJ-AI 12(1), 2023 (ATG is its "vanilla" baseline, seed 000
  `exp == 'ATG'`).
"""

import tensorflow as tf

from tfmtl.aggregation.base import Aggregator


class ATG(Aggregator):
  """Main tasks w_t g_t plus auxiliary tasks w_aux g_aux on shared layers."""

  # Jᵀw, no solver: a non-finite J makes a non-finite update (the step is
  # skipped), so the step need not copy J to clean it.
  needs_finite_j = False

  def __init__(self, name="atg"):
    super().__init__(name=name)

  def __call__(self, J, **extra):
    return tf.linalg.matvec(J, self.weights_for(J), transpose_a=True)
