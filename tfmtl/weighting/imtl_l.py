"""IMTL-L: learned loss scales (Liu et al., ICLR 2021)."""

import tensorflow as tf

from tfmtl.weighting.base import Weighting, state, zero_absent


class IMTLL(Weighting):
  r"""The loss half of Impartial Multi-Task Learning.

  A learned scale s_t per task (initialised at 0), trained with the network
  by the optimizer on

    total = Σ_t (e^{s_t} L_t − s_t)

  so w_t = e^{s_t} and the regularizer is −Σ_t s_t. Its gradient in s_t,
  e^{s_t} L_t − 1, vanishes at e^{s_t} = 1/L_t: the scaled losses are driven
  towards 1, i.e. all tasks' losses are made equally large. It is exactly
  twice `uncertainty`'s regression form with s = −log σ².

  Output scale: sum convention; w = 1 (plain sum) at the start. The
  configured task weights are ignored.

  Versus LibMTL (LibMTL/weighting/IMTL.py): the same loss transform, as
  LibMTL applies it before its IMTL-G step; LibMTL's IMTL is the hybrid
  (the gradient half is `imtl` here, IMTL-G). Versus TorchJD: the same as
  `torchjd.scalarization.IMTLL`.

  Absent tasks (no labelled example in a step, `present`): the regularizer
  is −Σ_t s_t over the present tasks only, so an absent task's s_t gets no
  gradient (its loss term is 0 and the step zeroes its weight) and stays.

  References:
    Liu et al. "Towards Impartial Multi-task Learning", ICLR 2021
    (IMTL-L, the loss balance).
  """

  handles_absent = True

  def __init__(self, name="imtl_l"):
    super().__init__(name=name)

  def build(self, tasks):
    super().build(tasks)
    self.log_scale = state(tf.zeros([self.num_tasks]), "log_scale",
                           trainable=True)

  def __call__(self, losses, step, present=None):
    del step, present  # the step zeroes an absent task's weight
    return tf.cast(tf.exp(self.log_scale), losses.dtype)

  def regularizer(self, present=None):
    return -tf.reduce_sum(zero_absent(self.log_scale, present))

  def logs(self):
    return {f"scale/{n}": tf.exp(self.log_scale[i])
            for i, n in enumerate(self.task_names)}
