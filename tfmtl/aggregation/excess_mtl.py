"""ExcessMTL (He, Zhou, Zhao, Zhao, Zhang, ICML 2024)."""

import tensorflow as tf

from tfmtl.aggregation.base import Aggregator, state
from tfmtl.errors import UserError
from tfmtl.options import above, at_least


class ExcessMTL(Aggregator):
  r"""Robust MTL: weights by exponentiated excess-risk estimates.

  Each task's excess risk is estimated by a second-order expansion with an
  AdaGrad diagonal Hessian (paper, eq. 6-7); the task weights take an
  exponentiated-gradient step on it (eq. 9):

    S_t ← S_t + g_t ⊙ g_t                       (running sum, [T, n])
    e_t = Σ_i g_ti² / √(S_ti + 1e-7)
    first `warmup_steps` calls: w unchanged, e averaged into the baseline e⁰
    later calls:  w_t ← w_t · exp(η e_t / e⁰_t),  w ← T · w / Σ_s w_s
    d = Σ_t w_t g_t

  with w = 1 at the start. S, w, e⁰ and the call count are state,
  checkpointed. Task t's own variables get w_t (times its configured
  weight) · ∇L_t, as LibMTL's Σ_t w_t L_t gives them.

  Output scale: like `sum` (Σ w = T), as LibMTL and the official code.
  TorchJD keeps Σ w = 1 (like `mean`): its weights are ours / T.

  Absent tasks (no labelled example in the step): an absent task's S_t,
  e⁰_t and w_t stay as they were and it is left out of d. Warm-up is
  counted per task, in the steps the task was present (its e⁰ is the mean
  of e over its first `warmup_steps` present steps). The present tasks past
  their warm-up take the exponentiated step and are renormalised to the
  total they had, so Σ w = T still holds (w_M ← (Σ_M w) u_M / Σ_M u with
  u = w exp(η e / e⁰) on that set M). Without absences this is the rule
  above (every task's count is the call count).

  Differences: with the default `warmup_steps=1` this is LibMTL's
  `LibMTL/weighting/ExcessMTL.py` (the first call only sets e⁰, w stays 1;
  tested against a numpy transcription) and TorchJD's default; TorchJD's
  `n_warmup_steps=0` (the first call's e is used undivided, and becomes
  e⁰) is `warmup_steps=0` here (tested against TorchJD's two-step values).
  With k > 1 warm-up calls e⁰ is their mean, as TorchJD and the paper's
  Appendix C.1 (which recommends three epochs).

  References:
    He, Zhou, Zhao, Zhao, Zhang. "Robust Multi-Task Learning with Excess
    Risks", ICML 2024, eq. (6), (7), (9) and Algorithm 1.

  Args:
    robust_step_size: η (LibMTL's default 1e-2).
    warmup_steps: calls that only collect the baseline e⁰.
  """

  handles_absent = True  # see the docstring's absent tasks

  limits = {"robust_step_size": above(0.0), "warmup_steps": at_least(0)}

  def __init__(self, robust_step_size: float = 1e-2, warmup_steps: int = 1,
               name="excess_mtl"):
    super().__init__(name=name)
    self.step_size, self.warmup = float(robust_step_size), int(warmup_steps)

  def build(self, tasks, num_params=None, shared_variables=None):
    super().build(tasks, num_params, shared_variables)
    if num_params is None:
      raise UserError("excess_mtl sums squared gradients: build it with "
                      "num_params")
    t = len(tasks)
    self.sq_sum = state(tf.zeros([t, num_params]), "excess_sq_sum")
    self.loss_weights = state(tf.ones([t]), "excess_weights")
    self.baseline = state(tf.zeros([t]), "excess_baseline")
    self.calls = state(0, "excess_calls", dtype=tf.int64)
    # calls each task was present in (absent tasks: see the docstring)
    self.seen = state(tf.zeros([t], tf.int64), "excess_seen", dtype=tf.int64)

  def __call__(self, J, present=None, **extra):
    if present is not None:
      return self._present_only(J, present)
    t = J.shape[0]
    sq = tf.square(J)
    total = tf.cast(self.sq_sum, J.dtype) + sq
    e = tf.reduce_sum(sq / tf.sqrt(total + 1e-7), axis=1)
    calls = self.calls.read_value()
    warming = calls < self.warmup
    baseline = tf.cast(self.baseline, J.dtype)
    # During warm-up the baseline accumulates the mean of e.
    baseline = tf.where(
        warming, baseline + (e - baseline) / tf.cast(calls + 1, J.dtype),
        baseline)
    if self.warmup == 0:  # the first call's e, undivided, is the baseline
      first = tf.equal(calls, 0)
      baseline = tf.where(first, e, baseline)
      ratio = tf.where(first, e, tf.math.divide_no_nan(e, baseline))
    else:
      ratio = tf.math.divide_no_nan(e, baseline)
    w = tf.cast(self.loss_weights, J.dtype)
    updated = w * tf.exp(self.step_size * ratio)
    updated = t * updated / tf.reduce_sum(updated)
    w = tf.where(warming, w, updated)
    self.sq_sum.assign(total)
    self.baseline.assign(baseline)
    self.loss_weights.assign(w)
    self.calls.assign_add(1)
    if hasattr(self, "seen"):
      self.seen.assign_add(tf.ones_like(self.seen))
    return tf.linalg.matvec(J, w, transpose_a=True)

  def _present_only(self, J, present):
    """The rule on the present tasks; absent tasks' state stays."""
    t = J.shape[0]
    here = present[:, None]
    sq = tf.square(J)
    old_total = tf.cast(self.sq_sum, J.dtype)
    total = tf.where(here, old_total + sq, old_total)
    e = tf.reduce_sum(sq / tf.sqrt(total + 1e-7), axis=1)
    seen = self.seen.read_value()
    warming = seen < self.warmup
    old_base = tf.cast(self.baseline, J.dtype)
    baseline = tf.where(
        tf.logical_and(present, warming),
        old_base + (e - old_base) / tf.cast(seen + 1, J.dtype), old_base)
    if self.warmup == 0:
      first = tf.equal(seen, 0)
      baseline = tf.where(tf.logical_and(present, first), e, baseline)
      ratio = tf.where(first, e, tf.math.divide_no_nan(e, baseline))
    else:
      ratio = tf.math.divide_no_nan(e, baseline)
    w = tf.cast(self.loss_weights, J.dtype)
    moving = tf.logical_and(present, tf.logical_not(warming))
    zeros = tf.zeros_like(w)
    grown = tf.where(moving, w * tf.exp(self.step_size * ratio), zeros)
    # Every task moves: Σ w = T exactly, as the rule without absences.
    kept = tf.where(tf.reduce_all(moving), tf.cast(t, J.dtype),
                    tf.reduce_sum(tf.where(moving, w, zeros)))
    w = tf.where(moving, kept * grown / tf.reduce_sum(grown), w)
    self.sq_sum.assign(tf.cast(total, self.sq_sum.dtype))
    self.baseline.assign(tf.cast(baseline, self.baseline.dtype))
    self.loss_weights.assign(tf.cast(w, self.loss_weights.dtype))
    self.calls.assign_add(1)
    self.seen.assign_add(tf.cast(present, tf.int64))
    return tf.linalg.matvec(J, tf.where(present, w, zeros), transpose_a=True)

  def weights_for(self, J):
    return super().weights_for(J) * tf.cast(self.loss_weights, J.dtype)

  def logs(self):
    return {f"alpha/{n}": self.loss_weights[i]
            for i, n in enumerate(self.task_names)}
