r"""Probability-ratio auxiliary-task guidance (PRF), with variants.

For every shared parameter element, with g_t = ∇L_t and v_t the per-sample
gradient variance (1/B) Σ_i (g_t − g_t,i)² of task t (plus a tiny ε):

    ratio = sqrt(v_aux / v_main) · exp(−(g_main − g_aux)² / (2 v_main))
          = N(g_aux; g_main, v_main) / N(g_aux; g_aux, v_aux)
    β     = w_aux · ratio
    d     = Σ_{t ∈ main} w_t g_t + Σ_{a ∈ aux} β_a ⊙ g_a

An auxiliary gradient that is likely under the main task's per-sample
gradient distribution (and is itself noisy relative to it) keeps its weight;
one that conflicts with the main task is suppressed. Auxiliary-only variables
get w_aux ∇L_aux (the train step does that for every task's own variables).
Seed 000 assigns `_var_main_task` twice (the second should be the auxiliary
variance); this implements the formula, not the typo. The defaults are the
paper's formula; the output scale is the configured weights' (a sum over
tasks, as ATG).

Variants (options; each measured on the controlled benchmark,
bench/aux_tasks.py, RESULTS.md "Auxiliary tasks: controlled benchmark"):

- `variance="mean"` compares with the variance of the *batch-mean* gradient,
  v_t / B, instead of the per-sample variance v_t. Rationale: g_main and
  g_aux are batch means, so the spread that says whether they differ by more
  than chance is the standard error √(v/B), not the spread of one example's
  gradient. With v_t the agreement factor exp(−(g_m − g_a)²/2v_m) is near 1
  whether the tasks agree or conflict (measured 0.93–0.97), so β reduces to
  w_aux √(v_aux/v_main); with v/B the exponent is B times larger and the
  factor can detect conflict. √(v_aux/v_main) is unchanged (B cancels).
  Needs `batch_size` (the global batch size B; the aggregator sees only the
  variance). Measured: the factor did not separate helpful from harmful
  auxiliary tasks either (0.08 in every variant, against 0.38 for the
  paper's form); it lowered β everywhere (0.33 against 1.27), which beat
  ATG when half the auxiliary task was unrelated and kept the main error
  near main-only when all of it was, but gave up most of a helpful task's
  gain.
- `granularity="layer"` pools the statistics over each shared layer:
  ratio_L = sqrt(Σ_L v_aux / Σ_L v_main) · exp(−Σ_L (g_m − g_a)² / 2 Σ_L v_m),
  one β per layer. Rationale: a per-element variance from B examples is a
  noisy estimate (relative error √(2/B) for Gaussian gradients), and the
  per-element exponent turns that noise into random gating; summed over a
  layer's thousands of elements the statistics are stable and the decision
  is taken where the conflict is structured (per layer, as Du et al.'s
  cosine gate and the reference's per-layer clipping). With one element per
  layer it is the element form. Measured: alone it raised the agreement
  factor to 0.75–0.80 (≈ ATG); with v/B it closed the gate further (β
  0.02–0.04), the same in every variant.
- `gate_ema=decay` smooths β over steps, β ← decay·β + (1 − decay)·β_new
  (starting from the first β). Rationale: one batch's gap (g_m − g_a)² is
  noisy, so the gate flickers step to step; a smoothed gate keeps the
  decision and lets the auxiliary gradient through consistently where the
  tasks agree on average. (`ema=decay` smooths the variance instead.)
  Measured (gate_ema=0.9 on top of v/B per layer): within the seed spread
  of the unsmoothed gate on every variant.

These compare g_main with the *unweighted* g_aux, as the paper: a helpful
auxiliary task whose loss has a different scale differs from the main task
by its scale, and the mean-variance forms read that as conflict. The
exponent's denominator is v_main only (the paper's); the gap's own sampling
spread is (v_main + v_aux)/B, so with v/B the factor stays below 1 even for
identical expected gradients.

Options: `every=k` recomputes the variance every k calls and reuses the
stored one in between; `ema=decay` smooths it, v ← decay·v + (1−decay)·v_new
(starting from the first variance). Logs per shared layer the mean β as
`beta/<layer>`, the mean agreement factor exp(−(g_m − g_a)²/2v_m) as
`agree/<layer>` and the geometric mean of √(v_aux/v_main) as
`scale/<layer>` (geometric: where v_main ≈ 0 the ratio is huge while β is
0, and an arithmetic mean would show only those elements)
(`beta/<aux task>/<layer>`, … with several auxiliary tasks).
The train step asks `variance_due()` and computes the per-sample variance
only on the calls that read it, so `every=k` also cuts the step's cost
(bench/steps.py measures it: BENCHMARKS.md "PRF").

Partly labelled data: with sample weights the variance of task t is the
weighted per-sample variance over its labelled examples of the global batch
(per_sample.py). Absent tasks (no labelled example in the step): an absent
auxiliary task contributes nothing (β = 0, its logs 0) and its rows of the
stored variance (`every`, `ema`) and of the smoothed gate (`gate_ema`) stay
as they were. When the main task compared with is absent there is nothing
to compare an auxiliary gradient with: the present auxiliary gradients enter
at their configured weight, β = w_aux (ATG, PRF's baseline), so the step
still learns from the auxiliary labels rather than dropping them; the main
row of the stored variance and every gate stay (no comparison was made),
and agree/scale log 0. Each EMA row starts at the first value its tasks
were present for; `every` keeps its global call count.

References:
  Al Hasib et al., "Boosting auxiliary task guidance: a probabilistic
  approach", IAES IJ-AI 12(1), 2023.
"""

from typing import Dict, Optional, Sequence

import tensorflow as tf

from tfmtl.aggregation.auxiliary import AuxiliaryAggregator, layer_segments
from tfmtl.aggregation.base import state
from tfmtl.errors import UserError
from tfmtl.options import at_least, between, one_of

_layer_segments = layer_segments  # the name earlier code imported
VARIANCES = ("sample", "mean")
GRANULARITIES = ("element", "layer")


def log_probability_ratio(gap2, var_main, var_aux):
  """0.5 log(v_aux / v_main) − 0.5 gap² / v_main (variances already +ε)."""
  return (0.5 * (tf.math.log(var_aux) - tf.math.log(var_main)) -
          0.5 * gap2 / var_main)


def probability_ratio(g_main, g_aux, var_main, var_aux, eps=1e-19):
  """sqrt(v_aux / v_main) · exp(−0.5 (g_main − g_aux)² / v_main), elementwise.

  ε is added to both variances. Evaluated in log space so a vanishing main
  variance gives exp(−∞) = 0 rather than ∞ · 0 = NaN.
  """
  return tf.exp(log_probability_ratio(tf.square(g_main - g_aux),
                                      var_main + eps, var_aux + eps))


class PRF(AuxiliaryAggregator):
  """Probability-ratio scaling of auxiliary gradients on shared layers.

  Args:
    main_task: the main task whose gradient and variance the auxiliary ones
      are compared with (default: the first task with role "main"; the VO
      reference uses "rot").
    every: recompute the variance every `every` calls (1 = every call).
    ema: if set, the decay of an exponential moving average of the variance.
    eps: added to both variances (the seed's 1e-19).
    variance: "sample" (the paper: per-sample variance v) or "mean" (the
      variance of the batch-mean gradient, v / batch_size).
    batch_size: the global batch size B; needed by variance="mean".
    granularity: "element" (the paper) or "layer" (statistics pooled over
      each shared layer, one β per layer).
    gate_ema: if set, the decay of an exponential moving average of β.
  """

  needs = frozenset({"variance"})
  handles_absent = True  # see the docstring's absent tasks

  limits = {"every": at_least(1), "ema": between(0.0, 1.0, high_open=True),
            "gate_ema": between(0.0, 1.0, high_open=True),
            "eps": at_least(0.0), "variance": one_of(*VARIANCES),
            "granularity": one_of(*GRANULARITIES), "batch_size": at_least(1)}

  def __init__(self, main_task: Optional[str] = None, every: int = 1,
               ema: Optional[float] = None, eps: float = 1e-19,
               variance: str = "sample", batch_size: Optional[int] = None,
               granularity: str = "element", gate_ema: Optional[float] = None,
               name="prf"):
    super().__init__(name=name)
    if variance == "mean" and (batch_size is None or int(batch_size) < 1):
      raise UserError("prf: variance='mean' needs batch_size=B, the global "
                      f"batch size (got batch_size={batch_size})")
    self.main_task, self.every, self.eps = main_task, int(every), eps
    self.ema = None if ema is None else float(ema)
    self.gate_ema = None if gate_ema is None else float(gate_ema)
    self.variance, self.granularity = variance, granularity
    self.batch_size = None if batch_size is None else int(batch_size)

  def build(self, tasks: Sequence, num_params: Optional[int] = None,
            shared_variables: Optional[Sequence] = None) -> None:
    super().build(tasks, num_params, shared_variables)
    mains = [self.task_names[i] for i in self.mains]
    main = self.main_task or mains[0]
    if main not in mains:
      raise UserError(f"prf: main_task={main!r} is not a task with role "
                      f"'main'; main tasks: {mains}")
    self.main = self.task_names.index(main)
    self._variance_tasks = [main] + [self.task_names[i] for i in self.aux]
    if shared_variables:
      num_params = sum(s for _, s in self.segments)
    self._beta_means = self.log_state("beta_means")
    self._agree_means = self.log_state("agree_means")
    self._scale_means = self.log_state("scale_means")
    self.stateful = self.every > 1 or self.ema is not None
    if (self.stateful or self.gate_ema is not None) and num_params is None:
      raise UserError("prf with every>1, ema or gate_ema needs num_params "
                      "at build")
    if self.stateful:
      rows = 1 + len(self.aux)
      self._variance = state(tf.zeros([rows, num_params]), "variance")
      self._calls = state(0, "calls", dtype=tf.int64)
      # refreshes each row (main, then each aux task) was present for
      self._variance_seen = state(tf.zeros([rows], tf.int64),
                                  "variance_seen", dtype=tf.int64)
    if self.gate_ema is not None:
      self._gate = state(tf.zeros([len(self.aux), num_params]), "gate")
      self._gate_calls = state(0, "gate_calls", dtype=tf.int64)
      self._gate_seen = state(tf.zeros([len(self.aux)], tf.int64),
                              "gate_seen", dtype=tf.int64)

  def variance_tasks(self):
    """The main task and the auxiliary ones: only their variance is read."""
    return self._variance_tasks

  def variance_due(self) -> Optional[tf.Tensor]:
    """Whether the next call reads a fresh variance (None: every call).

    On other calls `__call__` ignores the `variance` it is given, so the
    train step need not compute it.
    """
    if not self.stateful or self.every == 1:
      return None
    return tf.equal(self._calls % self.every, 0)

  def _smoothed(self, fresh, rows_here=None):
    """The variance this call uses, after the every-k / EMA options.

    rows_here: [1 + A] bool, the rows whose task is present (None: all);
    the others keep their stored variance.
    """
    calls = self._calls
    first = tf.equal(calls, 0)
    if rows_here is not None:
      first = tf.equal(self._variance_seen, 0)[:, None]
    refresh = tf.equal(calls % self.every, 0)
    stored = self._variance
    if self.ema is not None:
      mixed = self.ema * stored + (1.0 - self.ema) * fresh
      new = tf.where(first, fresh, mixed)
    else:
      new = fresh
    if rows_here is not None:
      new = tf.where(rows_here[:, None], new, stored)
      seen = tf.where(refresh, tf.cast(rows_here, tf.int64), 0)
    else:
      seen = tf.cast(refresh, tf.int64) * tf.ones_like(self._variance_seen)
    value = tf.cond(refresh, lambda: new, lambda: tf.identity(stored))
    stored.assign(value)
    calls.assign_add(1)
    self._variance_seen.assign_add(seen)
    return value

  def log_terms(self, g_main, g_aux, var_main, var_aux):
    """(log of √(v_a/v_m), agreement exponent −gap²/2v_m), [n] each.

    Applies the `variance` and `granularity` options; per layer, each
    column carries its layer's value.
    """
    gap2 = tf.square(g_main - g_aux)
    if self.variance == "mean":
      var_main = var_main / self.batch_size
      var_aux = var_aux / self.batch_size
    if self.granularity == "layer":
      gap2 = self.layer_sum(gap2)
      var_main, var_aux = self.layer_sum(var_main), self.layer_sum(var_aux)
    v_main, v_aux = var_main + self.eps, var_aux + self.eps
    log_scale = 0.5 * (tf.math.log(v_aux) - tf.math.log(v_main))
    exponent = -0.5 * gap2 / v_main
    if self.granularity == "layer":
      log_scale = self.to_columns(log_scale, g_main)
      exponent = self.to_columns(exponent, g_main)
    return log_scale, exponent

  def _smoothed_gate(self, beta, rows_here=None):
    """β after `gate_ema`; rows_here [A] bool: the auxiliary tasks compared
    this call (None: all), the others keep their gate."""
    first = tf.equal(self._gate_calls, 0)
    if rows_here is not None:
      first = tf.equal(self._gate_seen, 0)[:, None]
    mixed = self.gate_ema * self._gate + (1.0 - self.gate_ema) * beta
    value = tf.where(first, beta, mixed)
    if rows_here is not None:
      value = tf.where(rows_here[:, None], value, self._gate)
      self._gate_seen.assign_add(tf.cast(rows_here, tf.int64))
    else:
      self._gate_seen.assign_add(tf.ones_like(self._gate_seen))
    self._gate.assign(value)
    self._gate_calls.assign_add(1)
    return value

  def __call__(self, J, variance=None, present=None, **extra):
    if variance is None:
      raise UserError("prf needs per-sample gradient variance: run it "
                      "through make_train_step, or pass variance=[T, n]")
    w = self.weights_for(J)
    rows = [self.main] + self.aux
    v = tf.gather(variance, rows)
    rows_here = None if present is None else tf.gather(present, rows)
    if self.stateful:
      v = self._smoothed(v, rows_here)
    g_main = J[self.main]
    update = self.main_gradient(J, w, present)
    betas, agrees, scales = [], [], []
    for k, a in enumerate(self.aux):
      log_scale, exponent = self.log_terms(g_main, J[a], v[0], v[1 + k])
      betas.append(w[a] * tf.exp(log_scale + exponent))
      agrees.append(self.layer_mean(tf.exp(exponent)))
      scales.append(tf.exp(self.layer_mean(log_scale)))
    beta = tf.stack(betas)
    compared = None
    if present is not None:
      # aux tasks compared with the main one this call: [A]
      compared = tf.logical_and(rows_here[1:], rows_here[0])
    if self.gate_ema is not None:
      beta = self._smoothed_gate(beta, compared)
    if present is not None:
      atg = tf.gather(w, self.aux)[:, None] * tf.ones_like(beta)
      beta = tf.where(rows_here[0], beta, atg)  # no main: ATG
      beta = tf.where(rows_here[1:, None], beta, tf.zeros_like(beta))
      agrees = [tf.where(compared[k], x, tf.zeros_like(x))
                for k, x in enumerate(agrees)]
      scales = [tf.where(compared[k], x, tf.zeros_like(x))
                for k, x in enumerate(scales)]
    for k, a in enumerate(self.aux):
      update += beta[k] * J[a]
    self._beta_means.assign(tf.stack(
        [self.layer_mean(beta[k]) for k in range(len(self.aux))]))
    self._agree_means.assign(tf.stack(agrees))
    self._scale_means.assign(tf.stack(scales))
    return update

  def logs(self) -> Dict[str, tf.Tensor]:
    out = self.per_layer_logs("beta", self._beta_means)
    out.update(self.per_layer_logs("agree", self._agree_means))
    out.update(self.per_layer_logs("scale", self._scale_means))
    return out
