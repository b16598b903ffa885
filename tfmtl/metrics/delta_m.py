"""Multi-task performance Delta_m (Maninis et al., CVPR 2019; LibMTL).

  Delta_m = 100/T sum_t 1/N_t sum_n (-1)^{l_{t,n}} (M_{t,n} - B_{t,n}) / B_{t,n}

with M the multi-task model's metric, B the single-task baseline's, and
l_{t,n} = 1 when *lower* is better for metric n of task t (Maninis et al.,
"Attentive Single-Tasking of Multiple Tasks", Eq. 6). Positive Delta_m is an
improvement over the single-task models, negative a loss. This equals LibMTL's
`count_improvement` (LibMTL/utils.py), which writes
(-1)^{w} (B - M) / B with w = 1 when *higher* is better, times 100.
"""

import math

from tfmtl.errors import UserError
from tfmtl.metrics import depth, normals, odometry, segmentation

# Direction of every metric name the metrics package produces.
HIGHER_IS_BETTER = {**segmentation.HIGHER_IS_BETTER, **depth.HIGHER_IS_BETTER,
                    **odometry.HIGHER_IS_BETTER,
                    **normals.HIGHER_IS_BETTER}
"""{metric name: True when higher is better}, for Δm's sign."""


def _higher(task, metric, higher_is_better):
  for key in (f"{task}/{metric}", metric):
    if key in higher_is_better:
      return bool(higher_is_better[key])
  raise UserError(
      f"delta_m: no direction for metric {metric!r} of task {task!r}; pass "
      f"higher_is_better={{'{task}/{metric}': True or False}}")


def delta_m(mtl, single, higher_is_better=None):
  """Delta_m in percent; positive means the multi-task model is better.

  Args:
    mtl: {task: {metric: value}} of the multi-task model.
    single: {task: {metric: value}} of the single-task baselines; the tasks
      and metrics of `single` are the ones compared (each must be in `mtl`).
    higher_is_better: {metric or "task/metric": bool}; defaults to
      HIGHER_IS_BETTER (miou, pixel_accuracy, delta_k up; errors down);
      entries given here take precedence.

  Returns:
    float, percent.
  """
  directions = {**HIGHER_IS_BETTER, **(higher_is_better or {})}
  if not single:
    raise UserError("delta_m: no single-task baseline results given")
  per_task = []
  for task, base in single.items():
    if task not in mtl:
      raise UserError(f"delta_m: task {task!r} has a single-task result but "
                      "none from the multi-task model")
    terms = []
    for metric, b in base.items():
      if metric not in mtl[task]:
        raise UserError(f"delta_m: metric {task}/{metric} is missing from "
                        "the multi-task results")
      b, m = float(b), float(mtl[task][metric])
      if b == 0 or not math.isfinite(b):
        raise UserError(f"delta_m: single-task {task}/{metric} = {b}; Delta_m "
                        "divides by it, so leave that metric out")
      sign = 1.0 if _higher(task, metric, directions) else -1.0
      terms.append(sign * (m - b) / b)
    if not terms:
      raise UserError(f"delta_m: task {task!r} has no metrics")
    per_task.append(sum(terms) / len(terms))
  return 100.0 * sum(per_task) / len(per_task)
