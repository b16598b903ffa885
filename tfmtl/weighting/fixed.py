"""Fixed weighted sum of task losses."""

import tensorflow as tf

from tfmtl.weighting.base import Weighting


class Fixed(Weighting):
  r"""Fixed weights: total = Σ_t w_t L_t.

  The weights are the tasks' configured `weight` unless `weights` is given
  here (the PRF reference uses trans 1.0, rot 10.0, flow 0.1). Equal
  weighting is this with every w_t = 1.

  References:
    The usual baseline of every multi-task paper, e.g. Kendall et al.,
    "Multi-Task Learning Using Uncertainty to Weigh Losses", CVPR 2018, §3.
  """

  def __init__(self, weights=None, name="fixed"):
    super().__init__(name=name)
    self._override = None if weights is None else list(weights)

  def build(self, tasks):
    super().build(tasks)
    if self._override is not None:
      if len(self._override) != self.num_tasks:
        from tfmtl.errors import UserError
        raise UserError(
            f"fixed: {len(self._override)} weights given for "
            f"{self.num_tasks} tasks {self.task_names}")
      self.task_weights = tf.constant(self._override, tf.float32)

  def __call__(self, losses, step):
    del step
    return tf.cast(self.task_weights, losses.dtype)
