"""Geometric Loss Strategy (Chennupati et al., CVPR-W 2019)."""

import tensorflow as tf

from tfmtl.weighting.base import Weighting

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

  References:
    Chennupati, Sistu, Yogamani, Rawashdeh. "MultiNet++: Multi-Stream
    Feature Aggregation and Geometric Loss Strategy for Multi-Task
    Learning", CVPR Workshops 2019 (the geometric loss strategy).
  """

  def __init__(self, name="gls"):
    super().__init__(name=name)

  def __call__(self, losses, step):
    del step
    log_l = tf.math.log(tf.maximum(losses, EPS))
    t = tf.cast(tf.shape(losses)[0], losses.dtype)
    return tf.exp(tf.reduce_mean(log_l) - log_l) / t
