"""Geometric Loss Strategy (Chennupati et al., CVPR-W 2019)."""

import tensorflow as tf

from tfmtl.weighting.base import (Weighting, masked_mean, num_present,
                                  zero_absent)

EPS = 1e-20  # losses are clamped here before the logarithm


class GLS(Weighting):
  r"""The geometric mean of the task losses.

    S(L) = (Π_t L_t)^(1/T) = exp(mean_t log L_t)

  The step back-propagates Σ_t w_t L_t with the weights held constant, so
  the weights are the exact gradient of S with respect to the losses:

    w_t = ∂S/∂L_t = S / (T · L_t)

  and Σ_t w_t ∇L_t = ∇S. Computed in log space, exp(mean log L − log L_t)/T,
  so a product of many small losses does not underflow; losses are clamped
  at 1e-20 (GLS is defined for positive losses only).

  Output scale: mean convention — at equal losses w_t = 1/T (Σw = 1), not
  Σw = T like `dwa`/`rlw`; the step size is that of the geometric *mean*.
  The configured task weights are ignored.

  Versus LibMTL (LibMTL/weighting/GLS.py): the same scalarisation and hence
  the same gradient; LibMTL back-propagates `prod(L)**(1/T)` directly (which
  underflows to 0 for many small losses) and *returns* L_t/(T·Π L) as its
  "weights", which are not the weights its gradient uses; here the weights
  logged are the ones applied. TorchJD's `GeometricMean` scalariser is the
  same function.

  Absent tasks (no labelled example in a step, `present`): the geometric
  mean of the P present tasks' losses, S = exp(mean_present log L), and
  w_t = S / (P · L_t) for them; an absent task (L_t = 0, outside the
  product, which it would zero) gets 0.

  References:
    Chennupati, Sistu, Yogamani, Rawashdeh. "MultiNet++: Multi-Stream
    Feature Aggregation and Geometric Loss Strategy for Multi-Task
    Learning", CVPR Workshops 2019 (the geometric loss strategy).
  """

  handles_absent = True

  def __init__(self, name="gls"):
    super().__init__(name=name)

  def __call__(self, losses, step, present=None):
    del step
    log_l = tf.math.log(tf.maximum(losses, EPS))
    if present is None:
      t = tf.cast(tf.shape(losses)[0], losses.dtype)
    else:
      t = tf.maximum(tf.cast(num_present(present, 0), losses.dtype), 1.0)
    return zero_absent(tf.exp(masked_mean(log_l, present) - log_l) / t,
                       present)
