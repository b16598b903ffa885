"""Dynamic Weight Average (Liu, Johns, Davison, CVPR 2019)."""

import tensorflow as tf

from tfmtl.errors import UserError
from tfmtl.weighting.base import Weighting, state


class DWA(Weighting):
  r"""Weights from the rate at which each task's epoch loss falls.

  With L̄_t(e) the average training loss of task t over epoch e,

    r_t(e−1) = L̄_t(e−1) / L̄_t(e−2)
    w_t(e)   = T · exp(r_t(e−1)/temp) / Σ_j exp(r_j(e−1)/temp)

  and w_t = 1 for the first two epochs (e = 0, 1). The weights sum to T.
  An epoch is `steps_per_epoch` calls of `update`; the averages are of the
  global (all-reduced) batch losses, as the reference code averages its
  batch losses over the epoch.

  References:
    Liu, Johns, Davison. "End-to-End Multi-Task Learning with Attention",
    CVPR 2019, eq. (5); reference code github.com/lorenmt/mtan.

  Args:
    steps_per_epoch: train steps per epoch (required).
    temp: softmax temperature (2 in the paper).
  """

  def __init__(self, steps_per_epoch: int = 0, temp: float = 2.0, name="dwa"):
    super().__init__(name=name)
    if int(steps_per_epoch) < 1:
      raise UserError("dwa: set steps_per_epoch (train steps per epoch, >= 1)"
                      ", e.g. --config.method_kwargs.dwa.steps_per_epoch=80")
    if temp <= 0:
      raise UserError(f"dwa: temp = {temp} must be > 0")
    self.steps_per_epoch, self.temp = int(steps_per_epoch), float(temp)

  def build(self, tasks):
    super().build(tasks)
    t = self.num_tasks
    self.epoch_sum = state(tf.zeros([t]), "epoch_sum")
    self.epoch_steps = state(0.0, "epoch_steps")
    self.epochs_done = state(0.0, "epochs_done")
    self.avg_prev = state(tf.ones([t]), "avg_prev")    # L̄(e−1)
    self.avg_prev2 = state(tf.ones([t]), "avg_prev2")  # L̄(e−2)

  def __call__(self, losses, step):
    del step
    ratio = self.avg_prev / tf.maximum(self.avg_prev2, 1e-12)
    w = self.num_tasks * tf.nn.softmax(ratio / self.temp)
    return tf.cast(tf.where(self.epochs_done >= 2.0, w, tf.ones_like(w)),
                   losses.dtype)

  def update(self, losses, step, grad_norms=None, kpis=None):
    del step, grad_norms, kpis
    total = self.epoch_sum + tf.cast(losses, tf.float32)
    count = self.epoch_steps + 1.0
    end = count >= self.steps_per_epoch
    self.avg_prev2.assign(tf.where(end, self.avg_prev, self.avg_prev2))
    self.avg_prev.assign(tf.where(end, total / count, self.avg_prev))
    self.epochs_done.assign(tf.where(end, self.epochs_done + 1.0,
                                     self.epochs_done))
    self.epoch_sum.assign(tf.where(end, tf.zeros_like(total), total))
    self.epoch_steps.assign(tf.where(end, 0.0, count))
