"""Dynamic Weight Average (Liu, Johns, Davison, CVPR 2019)."""

import tensorflow as tf

from tfmtl.errors import UserError
from tfmtl.weighting.base import (Weighting, keep, masked_softmax,
                                  num_present, state, zero_absent)
from tfmtl.options import above, at_least


class DWA(Weighting):
  r"""Weights from the rate at which each task's epoch loss falls.

  With L̄_t(e) the average training loss of task t over epoch e,

    r_t(e−1) = L̄_t(e−1) / L̄_t(e−2)
    w_t(e)   = T · exp(r_t(e−1)/temp) / Σ_j exp(r_j(e−1)/temp)

  and w_t = 1 for the first two epochs (e = 0, 1). The weights sum to T.
  An epoch is `steps_per_epoch` calls of `update`; the averages are of the
  global (all-reduced) batch losses, as the reference code averages its
  batch losses over the epoch.

  Absent tasks (no labelled example in a step, `present`): the softmax
  runs over the present tasks only, w = P · softmax over them (P present
  tasks, Σw = P, as DWA on the P-task problem; in the first two epochs the
  present tasks weigh 1). A task's epoch mean is over the steps of the
  epoch where it was present (per-task counts; the epoch itself is
  `steps_per_epoch` steps whoever is present). A task present in no step of
  an epoch keeps its last two means, hence its last ratio. A task with
  fewer than two epoch means (absent through early epochs) has ratio 1
  (treated as not falling) until it has two.

  References:
    Liu, Johns, Davison. "End-to-End Multi-Task Learning with Attention",
    CVPR 2019, eq. (5); reference code github.com/lorenmt/mtan.

  Args:
    steps_per_epoch: train steps per epoch (required).
    temp: softmax temperature (2 in the paper).
  """

  limits = {"steps_per_epoch": at_least(0), "temp": above(0.0)}

  def __init__(self, steps_per_epoch: int = 0, temp: float = 2.0, name="dwa"):
    super().__init__(name=name)
    if int(steps_per_epoch) < 1:
      raise UserError("dwa: set steps_per_epoch (train steps per epoch, >= 1)"
                      ", e.g. --config.method_kwargs.dwa.steps_per_epoch=80")
    self.steps_per_epoch, self.temp = int(steps_per_epoch), float(temp)

  handles_absent = True

  def build(self, tasks):
    super().build(tasks)
    t = self.num_tasks
    self.epoch_sum = state(tf.zeros([t]), "epoch_sum")
    self.epoch_steps = state(0.0, "epoch_steps")          # steps this epoch
    self.epoch_counts = state(tf.zeros([t]), "epoch_counts")  # present in
    self.epochs_done = state(0.0, "epochs_done")
    self.task_epochs = state(tf.zeros([t]), "task_epochs")  # means known
    self.avg_prev = state(tf.ones([t]), "avg_prev")    # L̄(e−1)
    self.avg_prev2 = state(tf.ones([t]), "avg_prev2")  # L̄(e−2)

  def __call__(self, losses, step, present=None):
    del step
    ratio = self.avg_prev / tf.maximum(self.avg_prev2, 1e-12)
    ratio = tf.where(self.task_epochs >= 2.0, ratio, tf.ones_like(ratio))
    w = (num_present(present, self.num_tasks) *
         masked_softmax(ratio / self.temp, present))
    ones = zero_absent(tf.ones_like(w), present)
    return tf.cast(tf.where(self.epochs_done >= 2.0, w, ones), losses.dtype)

  def update(self, losses, step, grad_norms=None, kpis=None, present=None):
    del step, grad_norms, kpis
    losses = tf.cast(losses, tf.float32)
    total = keep(present, self.epoch_sum + losses, self.epoch_sum)
    count = keep(present, self.epoch_counts + 1.0, self.epoch_counts)
    steps = self.epoch_steps + 1.0
    end = steps >= self.steps_per_epoch
    # A task's epoch mean: over the steps it was present in, if any.
    close = tf.logical_and(end, count > 0.0)
    mean = total / tf.maximum(count, 1.0)
    self.avg_prev2.assign(tf.where(close, self.avg_prev, self.avg_prev2))
    self.avg_prev.assign(tf.where(close, mean, self.avg_prev))
    self.task_epochs.assign(tf.where(close, self.task_epochs + 1.0,
                                     self.task_epochs))
    self.epochs_done.assign(tf.where(end, self.epochs_done + 1.0,
                                     self.epochs_done))
    self.epoch_sum.assign(tf.where(end, tf.zeros_like(total), total))
    self.epoch_counts.assign(tf.where(end, tf.zeros_like(count), count))
    self.epoch_steps.assign(tf.where(end, 0.0, steps))
