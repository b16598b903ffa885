"""Equal (or configured) weighting of task gradients."""

import tensorflow as tf

from tfmtl.aggregation.base import Aggregator


class Sum(Aggregator):
  r"""Weighted sum of task gradients: d = Σ_t w_t g_t.

  With the configured weights this is what a loss-level `fixed` method does,
  computed from J; it is the reference the gradient-surgery methods are
  compared with.

  References:
    Linear scalarisation, e.g. Caruana, "Multitask Learning", Machine
    Learning 28, 1997.
  """

  # Jᵀw, no solver: a non-finite J makes a non-finite update (the step is
  # skipped), so the step need not copy J to clean it.
  needs_finite_j = False

  def __init__(self, name="sum"):
    super().__init__(name=name)

  def __call__(self, J, **extra):
    return tf.linalg.matvec(J, self.weights_for(J), transpose_a=True)


class Mean(Sum):
  r"""Mean of task gradients: d = (1/T) Σ_t w_t g_t (LibMTL's EW)."""

  def __init__(self, name="mean"):
    super().__init__(name=name)

  def __call__(self, J, **extra):
    return super().__call__(J) / tf.cast(tf.shape(J)[0], J.dtype)
