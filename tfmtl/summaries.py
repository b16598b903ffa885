"""Progress lines on stdout and TensorBoard scalars, from a step's logs."""

import sys
import time
from typing import Mapping, Optional

import numpy as np
import tensorflow as tf


class Progress:
  """Prints `step/total, per-task loss and weight, steps/s, ETA` lines."""

  def __init__(self, total: int, start: int = 0, stream=sys.stdout):
    self.total, self.stream = total, stream
    self._t0, self._s0 = time.time(), start

  def line(self, step: int, logs: Mapping[str, float]) -> str:
    elapsed = time.time() - self._t0
    rate = (step - self._s0) / elapsed if elapsed > 0 else 0.0
    eta = (self.total - step) / rate if rate > 0 else float("nan")
    losses = " ".join(f"{k[5:]}={v:.4g}" for k, v in logs.items()
                      if k.startswith("loss/"))
    weights = " ".join(f"{v:.3g}" for k, v in logs.items()
                       if k.startswith("weight/"))
    skipped = int(logs.get("nonfinite_skips", 0))
    return (f"step {step}/{self.total} | loss {losses} | weights [{weights}]"
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


def to_floats(logs) -> dict:
  return {k: float(v) for k, v in logs.items()}
