r"""Probability-ratio auxiliary-task guidance (PRF).

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
variance); this implements the formula, not the typo.

Options: `every=k` recomputes the variance every k calls and reuses the
stored one in between; `ema=decay` smooths it, v ← decay·v + (1−decay)·v_new
(starting from the first variance). Logs the mean β per shared layer as
`beta/<layer>` (`beta/<aux task>/<layer>` with several auxiliary tasks).
The train step asks `variance_due()` and computes the per-sample variance
only on the calls that read it, so `every=k` also cuts the step's cost
(bench/steps.py measures it: BENCHMARKS.md "PRF").

References:
  Al Hasib et al., "Boosting auxiliary task guidance: a probabilistic
  approach", IAES IJ-AI 12(1), 2023.
"""

from typing import Dict, Optional, Sequence

import tensorflow as tf

from tfmtl.aggregation.base import Aggregator, state
from tfmtl.errors import UserError


def probability_ratio(g_main, g_aux, var_main, var_aux, eps=1e-19):
  """sqrt(v_aux / v_main) · exp(−0.5 (g_main − g_aux)² / v_main), elementwise.

  ε is added to both variances. Evaluated in log space so a vanishing main
  variance gives exp(−∞) = 0 rather than ∞ · 0 = NaN.
  """
  v_main = var_main + eps
  v_aux = var_aux + eps
  log_ratio = (0.5 * (tf.math.log(v_aux) - tf.math.log(v_main)) -
               0.5 * tf.square(g_main - g_aux) / v_main)
  return tf.exp(log_ratio)


def _layer_segments(shared_variables):
  """[(name, size)] of consecutive shared variables grouped by layer."""
  segments = []
  for v in shared_variables:
    layer = v.path.rsplit("/", 1)[0] if "/" in v.path else v.path
    size = int(tf.size(v))
    if segments and segments[-1][0] == layer:
      segments[-1][1] += size
    else:
      segments.append([layer, size])
  short = [s[0].split("/")[-1] for s in segments]
  if len(set(short)) == len(short):
    for s, name in zip(segments, short):
      s[0] = name
  return [tuple(s) for s in segments]


class PRF(Aggregator):
  """Probability-ratio scaling of auxiliary gradients on shared layers.

  Args:
    main_task: the main task whose gradient and variance the auxiliary ones
      are compared with (default: the first task with role "main"; the VO
      reference uses "rot").
    every: recompute the variance every `every` calls (1 = every call).
    ema: if set, the decay of an exponential moving average of the variance.
    eps: added to both variances (the seed's 1e-19).
  """

  needs = frozenset({"variance"})

  def __init__(self, main_task: Optional[str] = None, every: int = 1,
               ema: Optional[float] = None, eps: float = 1e-19, name="prf"):
    super().__init__(name=name)
    if int(every) < 1:
      raise UserError(f"prf: every={every} must be a positive integer")
    if ema is not None and not 0.0 <= float(ema) < 1.0:
      raise UserError(f"prf: ema={ema} must be a decay in [0, 1)")
    self.main_task, self.every, self.eps = main_task, int(every), eps
    self.ema = None if ema is None else float(ema)

  def build(self, tasks: Sequence, num_params: Optional[int] = None,
            shared_variables: Optional[Sequence] = None) -> None:
    super().build(tasks, num_params, shared_variables)
    mains = [n for n, r in zip(self.task_names, self.roles) if r == "main"]
    self.aux = [i for i, r in enumerate(self.roles) if r == "aux"]
    if not mains:
      raise UserError("prf needs a task with role 'main'; set the role of "
                      "the main task (e.g. tasks.rot.role='main')")
    if not self.aux:
      raise UserError("prf needs at least one task with role 'aux' (e.g. "
                      "tasks.flow.role='aux'); without one use 'atg'")
    main = self.main_task or mains[0]
    if main not in mains:
      raise UserError(f"prf: main_task={main!r} is not a task with role "
                      f"'main'; main tasks: {mains}")
    self.main = self.task_names.index(main)
    self.variance_tasks = [main] + [self.task_names[i] for i in self.aux]
    if shared_variables:
      self.segments = _layer_segments(shared_variables)
      num_params = sum(s for _, s in self.segments)
    else:
      self.segments = None
    self._beta_means = state(
        tf.zeros([len(self.aux), len(self.segments or [None])]), "beta_means")
    self.stateful = self.every > 1 or self.ema is not None
    if self.stateful:
      if num_params is None:
        raise UserError("prf with every>1 or ema needs num_params at build")
      rows = 1 + len(self.aux)
      self._variance = state(tf.zeros([rows, num_params]), "variance")
      self._calls = state(0, "calls", dtype=tf.int64)

  def variance_due(self) -> Optional[tf.Tensor]:
    """Whether the next call reads a fresh variance (None: every call).

    On other calls `__call__` ignores the `variance` it is given, so the
    train step need not compute it.
    """
    if not self.stateful or self.every == 1:
      return None
    return tf.equal(self._calls % self.every, 0)

  def _smoothed(self, fresh):
    """The variance this call uses, after the every-k / EMA options."""
    calls = self._calls
    first = tf.equal(calls, 0)
    refresh = tf.equal(calls % self.every, 0)
    stored = self._variance
    if self.ema is not None:
      mixed = self.ema * stored + (1.0 - self.ema) * fresh
      new = tf.where(first, fresh, mixed)
    else:
      new = fresh
    value = tf.cond(refresh, lambda: new, lambda: tf.identity(stored))
    stored.assign(value)
    calls.assign_add(1)
    return value

  def __call__(self, J, variance=None, **extra):
    if variance is None:
      raise UserError("prf needs per-sample gradient variance: run it "
                      "through make_train_step, or pass variance=[T, n]")
    w = self.weights_for(J)
    rows = [self.main] + self.aux
    v = tf.gather(variance, rows)
    if self.stateful:
      v = self._smoothed(v)
    g_main = J[self.main]
    is_main = tf.constant([r == "main" for r in self.roles], J.dtype)
    update = tf.linalg.matvec(J, w * is_main, transpose_a=True)
    means = []
    for k, a in enumerate(self.aux):
      beta = w[a] * probability_ratio(g_main, J[a], v[0], v[1 + k], self.eps)
      update += beta * J[a]
      if self.segments:
        parts = tf.split(beta, [s for _, s in self.segments])
        means.append(tf.stack([tf.reduce_mean(p) for p in parts]))
      else:
        means.append(tf.reduce_mean(beta)[None])
    self._beta_means.assign(tf.stack(means))
    return update

  def logs(self) -> Dict[str, tf.Tensor]:
    names = [n for n, _ in self.segments] if self.segments else ["shared"]
    out = {}
    for k, a in enumerate(self.aux):
      prefix = "beta/" if len(self.aux) == 1 else f"beta/{self.task_names[a]}/"
      for j, name in enumerate(names):
        out[prefix + name] = self._beta_means[k, j]
    return out
