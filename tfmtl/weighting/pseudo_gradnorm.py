"""Pseudo GradNorm (Texas Instruments edgeai-torchvision)."""

import tensorflow as tf

from tfmtl.weighting.base import (Weighting, keep, masked_mean,
                                  renormalise_present, state, zero_absent)
from tfmtl.options import above, at_least, between


class PseudoGradNorm(Weighting):
  r"""GradNorm's targets reached by a multiplicative rule, no second optimizer.

  With G_t = w_t ‖∇_W L_t‖ the gradient norm of the weighted task loss on
  the last shared layer W (TI reads it from a backward hook on the shared
  feature, which sees the weighted loss), smoothed as

    Ĝ_t ← (1 − β) Ĝ_t + β G_t                 β = 1e-3
    S_t ← (1 − β) S_t + β L_t                 short loss EMA
    L_t^long ← (1 − β_l) L_t^long + β_l L_t   β_l = 1e-6

  (each initialised with its first value), the inverse training rate
  r_t = S_t / (L_t^long + ε) stands in for GradNorm's L_t / L_t(0), and

    target_t = mean_j(Ĝ_j) · (r_t / Σ_j r_j)^α      α = 0.75
    w_t ← w_t + η · w_t · (target_t / (Ĝ_t + ε) − 1)   η = 1e-4
    w ← T · w / Σ_j w_j

  with ε = 1e-6. A step's loss uses the weights from before its update.

  Absent tasks (no labelled example in a step, `present`): an absent
  task's three EMAs are not updated (each starts at the task's first
  present value) and its weight is unchanged; the present tasks take the
  rule above on the P-task problem (the mean of Ĝ and the sum of r over
  them) and are renormalised to the total they had, so Σw stays T.

  References:
    Texas Instruments, edgeai-torchvision, `xnn/layers/multi_task.py`
    (`multi_task_type="pseudo_grad_norm"`), after Chen et al., "GradNorm",
    ICML 2018.

  Args:
    alpha: exponent α of the relative inverse training rate.
    lr: multiplicative step η.
    short_smooth: β of the gradient-norm and short loss EMAs.
    long_smooth: β_l of the long loss EMA.
  """

  needs = frozenset({"grad_norms"})
  handles_absent = True

  limits = {"alpha": at_least(0.0), "lr": above(0.0),
            "short_smooth": between(0.0, 1.0, low_open=True),
            "long_smooth": between(0.0, 1.0, low_open=True)}

  def __init__(self, alpha: float = 0.75, lr: float = 1e-4,
               short_smooth: float = 1e-3, long_smooth: float = 1e-6,
               name="pseudo_gradnorm"):
    super().__init__(name=name)
    self.alpha, self.lr = float(alpha), float(lr)
    self.short_smooth, self.long_smooth = float(short_smooth), float(long_smooth)
    self.eps = 1e-6

  def build(self, tasks):
    super().build(tasks)
    t = self.num_tasks
    self.w = state(tf.ones([t]), "weights")
    self.norms = state(tf.zeros([t]), "grad_norm_ema")
    self.short = state(tf.zeros([t]), "loss_short")
    self.long = state(tf.zeros([t]), "loss_long")
    self.seen = state(tf.zeros([t], tf.bool), "seen", dtype=tf.bool)

  def __call__(self, losses, step, present=None):
    del step, present  # the step zeroes an absent task's weight
    return tf.cast(tf.identity(self.w), losses.dtype)

  def update(self, losses, step, grad_norms=None, kpis=None, present=None):
    del step, kpis
    losses = tf.cast(losses, tf.float32)
    g = self.w * tf.cast(grad_norms, tf.float32)

    def ema(var, value, beta):
      new = tf.where(self.seen, (1.0 - beta) * var + beta * value, value)
      return keep(present, new, var)

    self.norms.assign(ema(self.norms, g, self.short_smooth))
    self.short.assign(ema(self.short, losses, self.short_smooth))
    self.long.assign(ema(self.long, losses, self.long_smooth))
    self.seen.assign(keep(present, tf.ones_like(self.seen), self.seen))
    rate = self.short / (self.long + self.eps)
    total = tf.reduce_sum(zero_absent(rate, present))
    target = masked_mean(self.norms, present) * tf.pow(rate / total,
                                                       self.alpha)
    w = self.w + self.lr * self.w * (target / (self.norms + self.eps) - 1.0)
    self.w.assign(renormalise_present(w, self.w.read_value(), present,
                                      self.num_tasks))
