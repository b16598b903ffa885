"""Coordinate-wise trimmed mean (Yin et al., ICML 2018; TorchJD TrimmedMean)."""

import tensorflow as tf

from tfmtl.aggregation.base import Aggregator
from tfmtl.errors import UserError
from tfmtl.options import at_least


class TrimmedMean(Aggregator):
  r"""The mean of each coordinate after dropping its k largest and k
  smallest values across tasks.

  For every parameter coordinate j, sort J[:, j] over the T tasks, drop the
  `trim_number` = k lowest and k highest, and average the remaining T − 2k:

    d_j = 1/(T − 2k) · Σ_{i=k+1}^{T−k} J_(i), j

  A robust aggregator from Byzantine-tolerant distributed learning: up to k
  arbitrarily corrupted rows cannot move d outside the range of the honest
  ones, coordinate by coordinate. Needs T ≥ 2k + 1. k = 0 is `mean`.
  Output scale: mean convention. Configured task weights are ignored (the
  rule is symmetric in the tasks).

  Versus TorchJD (`TrimmedMean(trim_number)`): the same rule; TorchJD has no
  default k, this defaults to k = 1 (T ≥ 3).

  References:
    Yin, Chen, Ramchandran, Bartlett. "Byzantine-Robust Distributed
    Learning: Towards Optimal Statistical Rates", ICML 2018 (the
    coordinate-wise trimmed mean).

  Args:
    trim_number: k ≥ 0, values dropped at each end of every coordinate.
  """

  limits = {"trim_number": at_least(0)}

  def __init__(self, trim_number: int = 1, name="trimmed_mean"):
    super().__init__(name=name)
    self.trim_number = int(trim_number)

  @property
  def min_tasks(self):
    return 2 * self.trim_number + 1

  def _check(self, num_tasks):
    if num_tasks < self.min_tasks:
      raise UserError(
          f"trimmed_mean: trim_number = {self.trim_number} needs at least "
          f"{2 * self.trim_number + 1} tasks, got {num_tasks}; lower "
          "trim_number")

  def build(self, tasks, num_params=None, shared_variables=None):
    self._check(len(tasks))
    super().build(tasks, num_params, shared_variables)

  def __call__(self, J, **extra):
    t, k = J.shape[0], self.trim_number
    self._check(t)
    kept = tf.sort(J, axis=0)[k:t - k]
    return tf.reduce_mean(kept, axis=0)
