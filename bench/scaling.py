r"""Train-step time vs. number of replicas and XLA, at a fixed global batch.

For each model (`dual_encoder`, `pose_flow`), method, replica count N and
`jit_compile` setting, a fresh child process splits the CPU into N logical
devices (`tfmtl.distribute.make_strategy("mirrored", num_devices=N)` must run
before TensorFlow touches a device, hence one process per configuration),
builds the model, method and optimizer inside `strategy.scope()` as
`tfmtl/experiment.py` does, feeds random in-memory tensors of the model's
shapes through `strategy.experimental_distribute_dataset`, and times
`make_train_step(..., strategy=strategy, jit_compile=...)`: `--warmup` steps
(tracing and compiling) then the median of `--steps` timed steps, each
synchronised by reading its loss. The parent prints a Markdown table with
seconds/step and the ratio to 1 replica without XLA of the same model and
method; all rows come from one invocation, so the ratios share the load.

Logical CPU replicas share the same physical cores: on a CPU this measures
the overhead of the distributed step (splitting the batch, per-replica
kernels, all-reduce), not a speed-up.

Run:
  TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/scaling.py
  .venv/bin/python bench/scaling.py --steps=2 --warmup=1 --batch=4 \
      --replicas=1,2 --de_size=32x64 --pf_size=32x64 --de_width=0.25 \
      --pf_width=0.125                                   # smoke test
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The dense tasks of the dual encoder: (loss, output channels).
DUAL_TASKS = {"depth": ("masked_l1", 1), "semantic": ("sparse_ce", 5),
              "motion": ("sparse_ce", 2)}


def _size(text):
  h, w = text.lower().split("x")
  return int(h), int(w)


def _arrays(model, batch, height, width, seed=0):
  """Random (inputs, labels) numpy arrays of the global batch."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)

  def uniform(*shape):
    return rng.uniform(0, 1, (batch,) + shape).astype(np.float32)

  if model == "dual_encoder":
    x = {"image": uniform(height, width, 3), "flow": uniform(height, width, 3)}
    depth = rng.uniform(1, 10, (batch, height, width, 1)).astype(np.float32)
    depth[rng.uniform(size=depth.shape) < 0.1] = 0  # invalid pixels
    y = {"depth": depth}
    for name in ("semantic", "motion"):
      labels = rng.integers(0, DUAL_TASKS[name][1], (batch, height, width))
      labels[rng.uniform(size=labels.shape) < 0.1] = 255  # ignored pixels
      y[name] = labels.astype(np.int32)
    return x, y
  x = {"frames": uniform(height, width, 6)}
  y = {"trans": rng.normal(size=(batch, 3)).astype(np.float32),
       "rot": rng.normal(size=(batch, 3)).astype(np.float32),
       "flow": uniform(height // 2, width // 2, 2)}
  return x, y


def _tasks(model, method):
  from tfmtl import losses  # pylint: disable=g-import-not-at-top
  from tfmtl.tasks import Task  # pylint: disable=g-import-not-at-top
  if model == "dual_encoder":
    return [Task(n, losses.get(loss)) for n, (loss, _) in DUAL_TASKS.items()]
  # The PRF reference set-up: trans 1, rot 10, flow 0.1 as auxiliary task.
  flow_role = "aux" if method == "prf" else "main"
  return [Task("trans", losses.l1, 1.0), Task("rot", losses.l1, 10.0),
          Task("flow", losses.flow_log_rmse, 0.1, flow_role)]


def child(a):
  """Times one configuration; prints one JSON line."""
  from tfmtl import distribute  # pylint: disable=g-import-not-at-top
  strategy = distribute.make_strategy("mirrored", num_devices=a.replicas)
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfmtl import methods, models  # pylint: disable=g-import-not-at-top
  from tfmtl.engine import make_train_step  # pylint: disable=g-import-not-at-top

  keras.utils.set_random_seed(0)
  tasks = _tasks(a.model, a.method)
  if a.model == "dual_encoder":
    height, width = _size(a.de_size)
    kwargs = dict(tasks={n: c for n, (_, c) in DUAL_TASKS.items()},
                  width=a.de_width)
  else:
    height, width = _size(a.pf_size)
    kwargs = dict(task_names=[t.name for t in tasks], width=a.pf_width)
  x, y = _arrays(a.model, a.batch, height, width)
  with strategy.scope():
    model = models.get(a.model, **kwargs)
    model({k: v[:1] for k, v in x.items()}, training=False)  # build in scope
    method_kwargs = {"main_task": "rot"} if a.method == "prf" else {}
    method = methods.get(a.method, **method_kwargs)
    optimizer = keras.optimizers.Adam(1e-4)
  step = make_train_step(model, tasks, method, optimizer, strategy=strategy,
                         jit_compile=a.jit)
  # One cached global batch, repeated; the strategy splits it per replica.
  ds = (tf.data.Dataset.from_tensor_slices((x, y))
        .batch(a.batch, drop_remainder=True).take(1).cache().repeat())
  it = iter(strategy.experimental_distribute_dataset(ds))
  start = time.perf_counter()
  for _ in range(a.warmup):
    float(step(next(it))["total_loss"])
  warmup = time.perf_counter() - start
  times = []
  for _ in range(a.steps):
    start = time.perf_counter()
    loss = float(step(next(it))["total_loss"])
    times.append(time.perf_counter() - start)
  print(json.dumps(dict(
      model=a.model, method=a.method, replicas=a.replicas, jit=a.jit,
      sec=statistics.median(times), warmup_sec=warmup, loss=loss,
      size=f"{height}x{width}",
      devices=[d.name for d in tf.config.list_logical_devices("CPU")])))


def _run_child(a, model, method, replicas, jit):
  argv = [sys.executable, os.path.abspath(__file__), "--child",
          f"--model={model}", f"--method={method}", f"--replicas={replicas}",
          f"--jit={int(jit)}", f"--batch={a.batch}", f"--steps={a.steps}",
          f"--warmup={a.warmup}", f"--de_size={a.de_size}",
          f"--pf_size={a.pf_size}", f"--de_width={a.de_width}",
          f"--pf_width={a.pf_width}"]
  proc = subprocess.run(argv, capture_output=True, text=True, check=False)
  lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
  if proc.returncode or not lines:
    err = proc.stderr.strip().splitlines() or ["(no output)"]
    # TF's error type and first message line say more than its last line.
    named = [l for l in err if "Error" in l and ":" in l]
    return dict(model=model, method=method, replicas=replicas, jit=jit,
                error=" ".join((named or err)[-1].split())[:300])
  return json.loads(lines[-1])


def main():
  p = argparse.ArgumentParser(
      description=__doc__.split("\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--models", default="dual_encoder,pose_flow",
                 help="comma list of dual_encoder, pose_flow")
  p.add_argument("--methods", default="fixed",
                 help="comma list; prf applies to pose_flow only "
                      "(main task rot, flow auxiliary)")
  p.add_argument("--replicas", default="1,2,4",
                 help="comma list of logical CPU replica counts")
  p.add_argument("--jit", default="0,1", help="comma list of 0/1")
  p.add_argument("--batch", type=int, default=8, help="global batch")
  p.add_argument("--steps", type=int, default=10, help="timed steps")
  p.add_argument("--warmup", type=int, default=3,
                 help="untimed steps first (trace, XLA compile)")
  p.add_argument("--de_size", default="96x192", help="dual_encoder HxW")
  p.add_argument("--pf_size", default="64x160", help="pose_flow HxW")
  p.add_argument("--de_width", type=float, default=0.5,
                 help="dual_encoder width multiplier")
  p.add_argument("--pf_width", type=float, default=0.25,
                 help="pose_flow width multiplier")
  p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  p.add_argument("--model", default="", help=argparse.SUPPRESS)
  p.add_argument("--method", default="fixed", help=argparse.SUPPRESS)
  a = p.parse_args()
  if a.child:
    a.replicas, a.jit = int(a.replicas), bool(int(a.jit))
    child(a)
    return
  replicas = [int(r) for r in a.replicas.split(",")]
  bad = [r for r in replicas if a.batch % r]
  if bad:
    p.error(f"--batch {a.batch} is not divisible by replicas {bad}")
  jits = [bool(int(j)) for j in a.jit.split(",")]
  rows = []
  for model in a.models.split(","):
    for method in a.methods.split(","):
      if method == "prf" and model != "pose_flow":
        continue
      for jit in jits:
        for n in replicas:
          row = _run_child(a, model, method, n, jit)
          rows.append(row)
          print("# " + json.dumps(row), file=sys.stderr, flush=True)
  print(f"global batch {a.batch}; dual_encoder width {a.de_width} at "
        f"{a.de_size}; pose_flow width {a.pf_width} at {a.pf_size}; median "
        f"of {a.steps} steps after {a.warmup} warm-up")
  print("| model | method | replicas | XLA | s/step | × 1 replica, no XLA |"
        " warm-up s |")
  print("|---|---|---:|---|---:|---:|---:|")
  for row in rows:
    base = next((r for r in rows if r["model"] == row["model"] and
                 r["method"] == row["method"] and r["replicas"] == 1 and
                 not r["jit"] and "sec" in r), None)
    head = (f"| {row['model']} | {row['method']} | {row['replicas']} | "
            f"{'yes' if row['jit'] else 'no'} |")
    if "error" in row:
      print(f"{head} failed: {row['error'].split('errors_impl.')[-1][:120]}"
            " | | |")
      continue
    ratio = f"{row['sec'] / base['sec']:.2f}" if base else "n/a"
    print(f"{head} {row['sec']:.3f} | {ratio} | {row['warmup_sec']:.1f} |")


if __name__ == "__main__":
  main()
