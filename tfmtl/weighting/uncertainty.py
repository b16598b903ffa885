"""Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018)."""

from typing import Optional, Sequence

import tensorflow as tf

from tfmtl.weighting.base import Weighting, state, zero_absent

# Task families (tfmtl.losses.FAMILIES) whose loss is a cross-entropy.
CROSS_ENTROPY = ("categorical", "categorical_onehot", "binary",
                 "binary_probs")


class Uncertainty(Weighting):
  r"""Learned task weights from homoscedastic uncertainty.

  With s_t = log σ_t² learned jointly with the network:

    regression task:      exp(-s_t) · L_t / 2 + s_t / 2
    classification task:  exp(-s_t) · L_t     + s_t / 2

  so w_t = exp(-s_t)/2 (regression) or exp(-s_t) (classification), and the
  regularizer is Σ_t s_t / 2. For a regression task ∂/∂s_t = 0 at
  σ_t² = exp(s_t) = L_t: the learned variance tracks the task's loss.

  Absent tasks (no labelled example in a step, `present`): the regularizer
  is Σ_t s_t / 2 over the present tasks only, so an absent task's s_t gets
  no gradient (its loss term is 0 and the step zeroes its weight) and
  stays; without this its s_t would be pushed down by 1/2 per step.

  References:
    Kendall, Gal, Cipolla. "Multi-Task Learning Using Uncertainty to Weigh
    Losses for Scene Geometry and Semantics", CVPR 2018, eqs. (7) and (10).

  Which form a task takes follows from its loss: cross-entropy tasks
  (`Task.family` categorical or binary: a softmax or sigmoid likelihood)
  take the classification form, every other task the regression form.
  `classification=` names the classification tasks instead. `forms()`
  says which each task got (train.py prints it at start-up).

  Args:
    classification: task names that take the classification form (None:
      from each task's loss, as above); every other task is a regression
      task.
    init: initial s_t.
  """

  handles_absent = True

  def __init__(self, classification: Optional[Sequence[str]] = None,
               init: float = 0.0, name="uncertainty"):
    super().__init__(name=name)
    self._given = (None if classification is None
                   else set(classification))
    self._init = float(init)

  def build(self, tasks):
    super().build(tasks)
    if self._given is None:
      self._classification = {t.name for t in tasks
                              if t.family in CROSS_ENTROPY}
    else:
      self._classification = set(self._given)
    unknown = self._classification - set(self.task_names)
    if unknown:
      from tfmtl.errors import UserError
      raise UserError(f"uncertainty: classification tasks {sorted(unknown)} "
                      f"are not among the tasks {self.task_names}")
    self.log_var = state(tf.fill([self.num_tasks], self._init), "log_var",
                         trainable=True)
    self._scale = tf.constant(
        [1.0 if n in self._classification else 0.5 for n in self.task_names])

  def forms(self):
    """{task: "classification" | "regression"} (after build)."""
    return {n: "classification" if n in self._classification
            else "regression" for n in self.task_names}

  def setup(self):
    forms = self.forms()
    parts = [f"{form} form: " + ", ".join(n for n, f in forms.items()
                                          if f == form)
             for form in ("classification", "regression")
             if form in forms.values()]
    return "uncertainty " + "; ".join(parts)

  def __call__(self, losses, step, present=None):
    del step, present  # the step zeroes an absent task's weight
    return self._scale * tf.exp(-self.log_var)

  def regularizer(self, present=None):
    return 0.5 * tf.reduce_sum(zero_absent(self.log_var, present))

  def logs(self):
    return {f"sigma2/{n}": tf.exp(self.log_var[i])
            for i, n in enumerate(self.task_names)}
