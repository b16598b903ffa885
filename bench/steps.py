r"""Full train steps on the pose + flow network: PRF vs ATG vs equal weights.

Each step is `make_train_step` with the reference set-up (trans 1 / rot 10 /
flow 0.1, flow auxiliary, Adam 5e-4, ±2e-6 clip on the 9 shared conv
kernels), timed warm in one process, round-robin (median of `--repeats`
timings of `--steps` consecutive steps each, per step); prints ratios to the
equal-weight `sum` step (which also builds the per-task gradients J).

A method spec is NAME[:OPTION]... with OPTION a per-sample mode
(`coupled`, `independent`) or a method argument KEY=VALUE, e.g.
`prf:every=4` (the variance recomputed every 4th step) or
`prf:coupled:every=4`.

Run:
  python bench/steps.py                            # B=16, 128x320, width 1
  python bench/steps.py --batch=8 --height=32 --width=80 --width_mult=0.25
  python bench/steps.py --methods=sum,prf,prf:every=4,prf:every=4:ema=0.9
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmtl import aggregation, losses  # noqa: E402
from tfmtl.models.pose_flow import PoseFlowNet  # noqa: E402
from tfmtl.tasks import Task  # noqa: E402
from tfmtl.engine import make_train_step  # noqa: E402


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--batch", type=int, default=16)
  p.add_argument("--height", type=int, default=128)
  p.add_argument("--width", type=int, default=320)
  p.add_argument("--width_mult", type=float, default=1.0)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--steps", type=int, default=4)
  p.add_argument("--methods", default="sum,atg,prf,prf:coupled")
  a = p.parse_args()
  tasks = [Task("trans", losses.l1, 1.0, "main"),
           Task("rot", losses.l1, 10.0, "main"),
           Task("flow", losses.flow_log_rmse, 0.1, "aux")]
  x = {"frames": tf.random.uniform([a.batch, a.height, a.width, 6])}
  y = {"trans": tf.random.normal([a.batch, 3]),
       "rot": tf.random.normal([a.batch, 3]),
       "flow": tf.random.uniform([a.batch, a.height // 2, a.width // 2, 2])}
  steps = {}
  for spec in a.methods.split(","):
    name, _, options = spec.partition(":")
    mode, kwargs = None, {"main_task": "rot"} if name == "prf" else {}
    for option in filter(None, options.split(":")):
      key, eq, value = option.partition("=")
      if eq:
        kwargs[key] = float(value) if "." in value else int(value)
      else:
        mode = option
    model = PoseFlowNet(width=a.width_mult)
    model(x)
    steps[spec] = make_train_step(
        model, tasks, aggregation.get(name, **kwargs),
        keras.optimizers.Adam(5e-4),
        clip_by_value={r"shared_conv_\d+/kernel$": 2e-6},
        per_sample_mode=mode or "independent")
    steps[spec]((x, y))  # trace + warm up
  # Round-robin, so drifting load from other jobs hits every step alike.
  times = {spec: [] for spec in steps}
  for _ in range(a.repeats):
    for spec, step in steps.items():
      start = time.perf_counter()
      for _ in range(a.steps):
        logs = step((x, y))
      float(logs["total_loss"])
      times[spec].append((time.perf_counter() - start) / a.steps)
  results = {spec: statistics.median(t) for spec, t in times.items()}
  base = results.get("sum", next(iter(results.values())))
  print(f"pose_flow train steps, B={a.batch}, {a.height}x{a.width}, "
        f"width {a.width_mult}, median of {a.repeats} x {a.steps} steps")
  print("| step | time (s) | ratio to sum step |")
  print("|---|---|---|")
  for spec, t in results.items():
    print(f"| {spec} | {t:.3f} | {t / base:.2f}x |")


if __name__ == "__main__":
  main()
