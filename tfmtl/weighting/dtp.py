"""Dynamic Task Prioritization (Guo, Haque, Huang, Yeung, Fei-Fei, ECCV 2018)."""

from typing import Sequence, Union

import tensorflow as tf

from tfmtl.errors import UserError
from tfmtl.weighting.base import Weighting, keep, state
from tfmtl.options import at_least, between


class DTP(Weighting):
  r"""Focal-loss weights from each task's KPI: harder tasks weigh more.

  With κ_t ∈ [0, 1] the task's KPI on the batch (Task.kpi, higher is
  better; the step passes the global batch value) tracked as an EMA

    κ̄_t ← α κ_t + (1 − α) κ̄_t

  the weight is the focal term

    w_t = −(1 − κ̄_t)^γ_t · log κ̄_t

  (κ̄ is clamped to [1e-8, 1] inside the log). Seed 004 prints the formula
  as −(1−κ)^γ κ, but its code and the paper use log κ. The weights are not
  normalised. Before the first KPI arrives κ̄ = `init_kpi`; the first KPI
  replaces it (no bias toward the initial value), later ones are averaged.

  Absent tasks (no labelled example in a step, `present`): an absent
  task's KPI (computed on no labelled example) is not read; its κ̄ stays
  as it was (its first present step replaces `init_kpi`). Its weight from
  κ̄ is returned as usual; the step zeroes it.

  References:
    Guo, Haque, Huang, Yeung, Fei-Fei. "Dynamic Task Prioritization for
    Multitask Learning", ECCV 2018, eqs. (2)-(4).

  Args:
    gamma: focusing parameter γ, one for all tasks or one per task.
    alpha: EMA weight α of the newest KPI (0.5 as seed 004).
    init_kpi: κ̄ for the first step.
  """

  needs = frozenset({"kpis"})
  handles_absent = True

  limits = {"gamma": at_least(0.0), "alpha": between(0.0, 1.0, low_open=True),
            "init_kpi": between(0.0, 1.0, low_open=True)}

  def __init__(self, gamma: Union[float, Sequence[float]] = 1.0,
               alpha: float = 0.5, init_kpi: float = 0.5, name="dtp"):
    super().__init__(name=name)
    self.gamma, self.alpha, self.init_kpi = gamma, float(alpha), init_kpi

  def build(self, tasks):
    super().build(tasks)
    missing = [t.name for t in tasks if t.kpi is None]
    if missing:
      raise UserError(f"dtp: tasks {missing} have no kpi; give each Task a "
                      "kpi function (y_true, y_pred) -> scalar in [0, 1]")
    gamma = self.gamma
    if isinstance(gamma, (int, float)):
      gamma = [float(gamma)] * self.num_tasks
    if len(gamma) != self.num_tasks:
      raise UserError(f"dtp: {len(gamma)} gamma values for {self.num_tasks} "
                      f"tasks {self.task_names}")
    self._gamma = tf.constant(gamma, tf.float32)
    self.kpi = state(tf.fill([self.num_tasks], float(self.init_kpi)), "kpi")
    self.seen = state(tf.zeros([self.num_tasks], tf.bool), "seen",
                      dtype=tf.bool)

  def __call__(self, losses, step, present=None):
    del step, present  # the step zeroes an absent task's weight
    k = tf.clip_by_value(self.kpi, 1e-8, 1.0)
    return tf.cast(-tf.pow(1.0 - k, self._gamma) * tf.math.log(k),
                   losses.dtype)

  def update(self, losses, step, grad_norms=None, kpis=None, present=None):
    del losses, step, grad_norms
    kpis = tf.cast(kpis, tf.float32)
    ema = self.alpha * kpis + (1.0 - self.alpha) * self.kpi
    self.kpi.assign(keep(present, tf.where(self.seen, ema, kpis), self.kpi))
    self.seen.assign(keep(present, tf.ones_like(self.seen), self.seen))

  def logs(self):
    return {f"kpi/{n}": self.kpi[i] for i, n in enumerate(self.task_names)}
