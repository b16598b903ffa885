r"""Params, GMACs and CPU train-step time of the dense multi-task models.

Run (the tables in BENCHMARKS.md "Models" come from these commands):
  python bench/models.py --what=params
  python bench/models.py --what=step --height=128 --width=256 --batch=2 \
      --steps=3

`params`: full-width parameter counts (2 tasks: 7-class semantic + depth;
the dual encoder with its 3 seed tasks), the ratio to one single-task SegNet
(the MTAN paper's #P. unit), and GMACs per example at 128×256 and, for the
dual encoder, at seed 001's 384×768, whole network and each task alone.
`step`: mean wall time of a train step (tf.function, equal weights, Adam)
after one warm-up step; all models timed in one run so their ratios compare.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfmtl.models  # noqa: E402
from tfmtl import losses, methods  # noqa: E402
from tfmtl.tasks import Task  # noqa: E402

TWO = {"semantic": 7, "depth": 1}
THREE = {"depth": 1, "semantic": 5, "motion": 2}
MODELS = [
    ("segnet single (1 task)", "segnet", dict(tasks={"semantic": 7},
                                              form="single")),
    ("segnet single (2 nets)", "segnet", dict(tasks=TWO, form="single")),
    ("segnet split", "segnet", dict(tasks=TWO)),
    ("segnet split wide", "segnet", dict(tasks=TWO, variant="wide")),
    ("segnet split deep", "segnet", dict(tasks=TWO, variant="deep")),
    ("segnet_dense", "segnet_dense", dict(tasks=TWO)),
    ("cross_stitch", "cross_stitch", dict(tasks=TWO)),
    ("mtan", "mtan", dict(tasks=TWO)),
    ("hard_sharing_conv", "hard_sharing_conv", dict(tasks=TWO)),
    ("dual_encoder", "dual_encoder", dict(tasks=THREE)),
]
LOSS = {"semantic": "sparse_ce", "motion": "sparse_ce", "depth": "masked_l1"}


def _inputs(model, b, h, w):
  keys = getattr(model, "input_keys", ("image",))
  return {k: tf.random.uniform([b, h, w, 3]) for k in keys}


def params_table(h, w):
  rows, unit = [], None
  for label, name, kw in MODELS:
    model = tfmtl.models.get(name, **kw)
    size = (384, 768) if name == "dual_encoder" else (h, w)
    c = tfmtl.models.cost(model, size)
    unit = unit or c.trainable_params
    tasks = ", ".join(f"{t} {v.gmacs:.2f}" for t, v in c.tasks.items())
    rows.append(f"| {label} | {c.trainable_params:,} | "
                f"{c.trainable_params / unit:.3f} | {size[0]}×{size[1]} | "
                f"{c.gmacs:.2f} | {tasks} |")
    del model
  print("| model | trainable params | / one SegNet | input | GMACs | "
        "GMACs per task alone |")
  print("|---|---:|---:|---|---:|---|")
  print("\n".join(rows))


def step_table(h, w, batch, steps):
  rows = []
  for label, name, kw in MODELS[1:]:
    keras.utils.set_random_seed(0)
    model = tfmtl.models.get(name, **kw)
    x = _inputs(model, batch, h, w)
    model(x)
    tnames = model.task_names
    y = {}
    for t in tnames:
      if t == "depth":
        y[t] = tf.random.uniform([batch, h, w, 1], 1, 10)
      else:
        y[t] = tf.random.uniform([batch, h, w], 0, 2, tf.int32)
    tasks = [Task(t, losses.get(LOSS[t])) for t in tnames]
    step = tfmtl.engine.make_train_step(
        model, tasks, methods.get("fixed"), keras.optimizers.Adam(1e-4))
    step((x, y))["total_loss"].numpy()  # trace + warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
      step((x, y))["total_loss"].numpy()
    dt = (time.perf_counter() - t0) / steps
    rows.append((label, dt))
    del model, step
  base = rows[0][1]
  print(f"| model | s / step (batch {batch}, {h}×{w}) | × segnet single |")
  print("|---|---:|---:|")
  for label, dt in rows:
    print(f"| {label} | {dt:.2f} | {dt / base:.2f} |")


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--what", choices=["params", "step"], default="params")
  p.add_argument("--height", type=int, default=128)
  p.add_argument("--width", type=int, default=256)
  p.add_argument("--batch", type=int, default=2)
  p.add_argument("--steps", type=int, default=3)
  a = p.parse_args()
  import tfmtl.engine  # noqa: F401  pylint: disable=g-import-not-at-top
  if a.what == "params":
    params_table(a.height, a.width)
  else:
    step_table(a.height, a.width, a.batch, a.steps)
  print(f"\n(TF {tf.__version__}, {os.cpu_count()} CPUs, numpy "
        f"{np.__version__})")


if __name__ == "__main__":
  main()
