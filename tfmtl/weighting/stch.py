"""Smooth Tchebycheff scalarisation (Lin et al., ICML 2024)."""

from typing import Optional, Sequence

import tensorflow as tf

from tfmtl.errors import UserError
from tfmtl.weighting.base import (Weighting, masked_softmax, num_present,
                                  state, zero_absent)
from tfmtl.options import above, at_least

EPS = 1e-20  # LibMTL's guard inside the logarithm


class STCH(Weighting):
  r"""A smooth maximum of the tasks' log losses relative to a nadir point.

  With the nadir z_t (a reference loss per task) and smoothing μ,

    ℓ_t = log(L_t / z_t + ε)
    S(L) = T · μ · log Σ_t exp(ℓ_t / μ)

  a smooth version of T · max_t ℓ_t (exact as μ → 0). The step
  back-propagates Σ_t w_t L_t with the weights held constant, so the
  weights are the exact gradient of S with respect to the losses:

    w_t = ∂S/∂L_t = T · softmax(ℓ/μ)_t / (L_t + ε z_t)

  and Σ_t w_t ∇L_t = ∇S.

  Warm-up and nadir, as LibMTL: an epoch is `steps_per_epoch` calls of
  `update`; during epochs 0 .. W (W = `warmup_epochs`) the objective is
  Σ_t log(L_t + ε), i.e. w_t = 1/(L_t + ε) (the `si` rule), and the global
  batch losses of epoch W are averaged; from epoch W + 1 on, that average is
  the nadir z. With `nadir` given, there is no warm-up and z is fixed.

  Output scale: sum convention (the factor T, as LibMTL; Σ_t softmax = 1
  so the weights are T/L_t-sized at equal relative losses). Configured task
  weights are ignored (no preference vector, as LibMTL).

  Versus LibMTL (LibMTL/weighting/STCH.py): the same rule and warm-up,
  counted in `update` calls rather than trainer epochs, and computed without
  autograd through the log-sum-exp; the nadir is the mean of the global
  (all-reduced) batch losses. LibMTL defaults are μ = 1, W = 4 (ours too).
  Versus TorchJD (`scalarization.STCH`): TorchJD applies
  μ log Σ exp(λ_t (f_t − z*_t)/μ) to the raw values with preference λ = 1/T
  and an ideal point z*, no logarithm of the loss and no warm-up; this
  follows LibMTL (adapted there from the paper's STCH_MTL code), whose
  log-ratio form makes the scalarisation invariant to each task's loss
  scale.

  Absent tasks (no labelled example in a step, `present`): the smooth max
  runs over the P present tasks, w_t = P · softmax over them / (L_t + ε z_t)
  (STCH on the P-task problem); an absent task gets 0, also in warm-up. A
  task's nadir is the mean of its losses over the steps of epoch W where
  it was present (per-task counts); a task absent through all of epoch W
  keeps nadir 1 (its loss left unnormalised). The step counter is global.

  References:
    Lin et al. "Smooth Tchebycheff Scalarization for Multi-Objective
    Optimization", ICML 2024 (the smooth Tchebycheff scalarisation and its
    multi-task experiments); code github.com/Xi-L/STCH (STCH_MTL).

  Args:
    steps_per_epoch: train steps per epoch (required unless `nadir` is
      given).
    mu: smoothing μ > 0.
    warmup_epochs: W ≥ 0; epochs 0 .. W use Σ log L, epoch W sets the nadir.
    nadir: optional fixed nadir losses, one per task (> 0); skips warm-up.
  """

  handles_absent = True

  limits = {"steps_per_epoch": at_least(0), "mu": above(0.0),
            "warmup_epochs": at_least(0), "nadir": above(0.0)}

  def __init__(self, steps_per_epoch: int = 0, mu: float = 1.0,
               warmup_epochs: int = 4,
               nadir: Optional[Sequence[float]] = None, name="stch"):
    super().__init__(name=name)
    if nadir is None and int(steps_per_epoch) < 1:
      raise UserError("stch: set steps_per_epoch (train steps per epoch, "
                      ">= 1) or give a fixed nadir, e.g. "
                      "--config.method_kwargs.stch.steps_per_epoch=80")
    self.steps_per_epoch = max(int(steps_per_epoch), 1)
    self.mu, self.warmup_epochs = float(mu), int(warmup_epochs)
    self._nadir = None if nadir is None else [float(z) for z in nadir]

  def build(self, tasks):
    super().build(tasks)
    t = self.num_tasks
    if self._nadir is not None and len(self._nadir) != t:
      raise UserError(f"stch: {len(self._nadir)} nadir values given for "
                      f"{t} tasks {self.task_names}")
    fixed = self._nadir is not None
    self.nadir = state(self._nadir if fixed else tf.ones([t]), "nadir")
    self.nadir_set = state(1.0 if fixed else 0.0, "nadir_set")  # 0/1
    self.steps = state(0.0, "steps")           # update calls so far
    self.warmup_sum = state(tf.zeros([t]), "warmup_sum")
    self.warmup_count = state(tf.zeros([t]), "warmup_count")  # present in

  def __call__(self, losses, step, present=None):
    del step
    z = tf.cast(self.nadir, losses.dtype)
    rel = tf.math.log(losses / z + EPS)
    t = tf.cast(num_present(present, self.num_tasks), losses.dtype)
    w_stch = t * masked_softmax(rel / self.mu, present) / (losses + EPS * z)
    w_warm = 1.0 / (losses + EPS)
    return zero_absent(tf.where(self.nadir_set > 0.5, w_stch, w_warm),
                       present)

  def update(self, losses, step, grad_norms=None, kpis=None, present=None):
    del step, grad_norms, kpis
    n = float(self.steps_per_epoch)
    epoch = tf.floor(self.steps / n)
    in_last = tf.logical_and(self.nadir_set < 0.5,
                             tf.equal(epoch, float(self.warmup_epochs)))
    adds = in_last if present is None else tf.logical_and(in_last, present)
    total = self.warmup_sum + tf.where(adds, tf.cast(losses, tf.float32),
                                       0.0)
    count = self.warmup_count + tf.where(adds, 1.0, 0.0)
    self.warmup_sum.assign(total)
    self.warmup_count.assign(count)
    steps = self.steps + 1.0
    done = tf.logical_and(in_last, steps >= n * (self.warmup_epochs + 1))
    # A task's nadir: its mean over the steps of epoch W it was present in.
    self.nadir.assign(tf.where(tf.logical_and(done, count > 0.0),
                               total / tf.maximum(count, 1.0), self.nadir))
    self.nadir_set.assign(tf.where(done, 1.0, self.nadir_set))
    self.steps.assign(steps)

  def logs(self):
    return {f"nadir/{n}": self.nadir[i] for i, n in enumerate(self.task_names)}
