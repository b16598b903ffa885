"""Progress lines on stdout and TensorBoard scalars, from a step's logs."""

import math
import sys
import time
from typing import Mapping, Optional

import numpy as np
import tensorflow as tf


# Logs that are the step's own bookkeeping, not the method's statistics.
_COUNTERS = ("nonfinite_skips", "consecutive_skips", "total_loss")


class Progress:
  """Prints `step/total, per-task loss, steps/s, ETA` lines; with
  `method_logs` also the task weights and the method's statistics
  (TensorBoard gets them all either way)."""

  def __init__(self, total: int, start: int = 0, stream=sys.stdout,
               method_logs: bool = False):
    self.total, self.stream = total, stream
    self.method_logs = method_logs
    self._t0, self._s0 = time.time(), start

  def line(self, step: int, logs: Mapping[str, float]) -> str:
    elapsed = time.time() - self._t0
    rate = (step - self._s0) / elapsed if elapsed > 0 else 0.0
    eta = (self.total - step) / rate if rate > 0 else float("nan")
    losses = " ".join(f"{k[5:]}={v:.4g}" for k, v in logs.items()
                      if k.startswith("loss/"))
    skipped = int(logs.get("nonfinite_skips", 0))
    extra = ""
    if self.method_logs:
      weights = " ".join(f"{v:.3g}" for k, v in logs.items()
                         if k.startswith("weight/"))
      stats = " ".join(f"{k}={v:.3g}" for k, v in logs.items()
                       if not k.startswith(("loss/", "weight/", "nonfinite/"))
                       and k not in _COUNTERS)
      extra = f" | weights [{weights}]" + (f" | {stats}" if stats else "")
    return (f"step {step}/{self.total} | loss {losses}{extra}"
            + (f" | skipped {skipped}" if skipped else "") +
            f" | {rate:.1f} steps/s | ETA {_fmt(eta)}")

  def __call__(self, step: int, logs: Mapping[str, float]) -> None:
    print(self.line(step, logs), file=self.stream, flush=True)


def _fmt(seconds: float) -> str:
  if not np.isfinite(seconds):
    return "?"
  m, s = divmod(int(seconds), 60)
  return f"{m}m{s:02d}s"


class Writer:
  """TensorBoard scalars for every entry of the logs (tasks, weights, ...).

  On a non-chief worker it writes nothing.
  """

  def __init__(self, logdir: Optional[str]):
    self._writer = tf.summary.create_file_writer(logdir) if logdir else None

  def images(self, step: int, images: Mapping[str, "np.ndarray"]) -> None:
    """uint8 images (e.g. prediction grids) under `pictures/<name>`."""
    if self._writer is None or not images:
      return
    from tfmtl import visualize  # pylint: disable=g-import-not-at-top
    with self._writer.as_default(step=step):
      for k, img in images.items():
        visualize.image_summary(f"pictures/{k}", img, step)
    self._writer.flush()

  def scalars(self, step: int, logs: Mapping[str, float]) -> None:
    if self._writer is None:
      return
    with self._writer.as_default(step=step):
      for k, v in logs.items():
        tf.summary.scalar(k, v)
    self._writer.flush()


def startup_line(method_name: str, step, kinds=None) -> str:
  """What a run trains: the method, its level (loss, J, representation),
  the shared parameters, the tasks with their kinds, and how the method
  reads them where its rule depends on it (`method.setup()`)."""
  shared = sum(math.prod(tuple(v.shape)) for v in
               step.split.shared_variables)
  if step.kind == "losses":
    level = "loss level"
  elif step.on_representation:
    level = "representation level (Gramian of the shared representation)"
  else:
    level = "gradient level (J: T x shared parameters)"
  if step.batches_per_step > 1:
    level += f", {step.batches_per_step} batches a step"
  kinds = kinds or {}

  def task(t):
    notes = ([kinds[t.name]] if t.name in kinds else []) + (
        [t.role] if t.role != "main" else [])
    return f"{t.name} ({', '.join(notes)})" if notes else t.name
  tasks = ", ".join(task(t) for t in step.tasks)
  setup = step.method.setup() if hasattr(step.method, "setup") else ""
  return (f"tfmtl: {method_name} — {level}; {shared:,} shared parameters; "
          f"{len(step.tasks)} tasks: {tasks}" + (f"; {setup}" if setup
                                                 else ""))


def to_floats(logs) -> dict:
  return {k: float(v) for k, v in logs.items()}
