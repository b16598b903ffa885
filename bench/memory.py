r"""Peak memory and step time of gradient-level methods at scale.

A plain dense hard-sharing net: a trunk 1024-4096-4096-1024 (25,175,040
shared parameters; one task's gradient of them is 96 MiB), a tower 32-16-1
per task, batch 16, Adam, MSE per task. Each case runs in a process of its
own: build the net, the optimizer and the step, then

- peak RSS added by the first two train steps (the resident set polled every
  millisecond by a thread, minus the resident set just before step 1; the
  first step includes tracing);
- first step (trace + run) and steady step time (median of 5 more), and for
  `keras`, Keras' own compile + train_on_batch of the same net with a loss
  dict (construction + first step, steady step).

Cases: keras, fixed, pcgrad, upgrad, upgrad_gramian (gramian_mode),
upgrad_rep (rep_grad) through make_train_step, and trainer_fixed,
trainer_pcgrad: `tfmtl.Trainer`'s train_on_batch (Keras' own loop).
Run on an idle machine (results in BENCHMARKS.md):

  python bench/memory.py                           # every case, T = 2 3 4 8
  python bench/memory.py --cases=upgrad,upgrad_gramian --tasks=3,8
  python bench/memory.py --case=upgrad --tasks=3   # one case (a child run)
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

CASES = ("keras", "fixed", "pcgrad", "upgrad", "upgrad_gramian",
         "upgrad_rep", "trainer_fixed", "trainer_pcgrad")
TRUNK = (4096, 4096, 1024)
INPUT, TOWER, BATCH = 1024, (32, 16), 16


def _rss_mib() -> float:
  with open("/proc/self/statm") as f:
    return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


class Peak:
  """The largest resident set seen while running, polled by a thread."""

  def __enter__(self):
    self.base, self.peak, self._stop = _rss_mib(), 0.0, False
    self._thread = threading.Thread(target=self._poll, daemon=True)
    self._thread.start()
    return self

  def _poll(self):
    while not self._stop:
      self.peak = max(self.peak, _rss_mib())
      time.sleep(0.001)

  def __exit__(self, *exc):
    self._stop = True
    self._thread.join()
    self.peak = max(self.peak, _rss_mib())
    self.added = self.peak - self.base


def _net(tasks):
  import keras  # pylint: disable=g-import-not-at-top
  x = keras.Input((INPUT,))
  h = x
  for units in TRUNK:
    h = keras.layers.Dense(units, activation="relu")(h)
  out = {}
  for t in tasks:
    z = h
    for units in TOWER:
      z = keras.layers.Dense(units, activation="relu")(z)
    out[t] = keras.layers.Dense(1, name=f"{t}_out")(z)
  return keras.Model(x, out)


def child(case: str, num_tasks: int) -> dict:
  """One case in this process: memory and times."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  import keras  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfmtl import methods  # pylint: disable=g-import-not-at-top
  from tfmtl.engine import make_train_step  # pylint: disable=g-import-not-at-top
  from tfmtl.tasks import Task  # pylint: disable=g-import-not-at-top
  names = [f"t{i}" for i in range(num_tasks)]
  rng = np.random.default_rng(0)
  x = tf.constant(rng.normal(size=(BATCH, INPUT)).astype(np.float32))
  y = {t: tf.constant(rng.normal(size=(BATCH, 1)).astype(np.float32))
       for t in names}
  start = time.perf_counter()
  model = _net(names)
  model(x[:1])
  if case == "keras":
    model.compile(optimizer=keras.optimizers.Adam(1e-4),
                  loss={t: "mse" for t in names})
    run = lambda: model.train_on_batch(x, y)  # noqa: E731
  elif case.startswith("trainer_"):
    import tfmtl  # pylint: disable=g-import-not-at-top
    trainer = tfmtl.Trainer(model, {t: "mse" for t in names},
                            case[len("trainer_"):])
    # Keras resolves its own "auto" to no XLA on a CPU: compare like forms.
    trainer.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile=False)
    run = lambda: trainer.train_on_batch(x, y)  # noqa: E731
  else:
    method, options = {
        "upgrad_gramian": ("upgrad", {"gramian_mode": True}),
        "upgrad_rep": ("upgrad", {"rep_grad": True})}.get(case, (case, {}))
    step = make_train_step(model, [Task(t, "mse") for t in names],
                           methods.get(method, **options),
                           keras.optimizers.Adam(1e-4))
    run = lambda: step((x, y))["total_loss"].numpy()  # noqa: E731
  built = time.perf_counter()
  with Peak() as peak:
    run()
    first = time.perf_counter()
    run()
  steady = []
  for _ in range(5):
    t0 = time.perf_counter()
    run()
    steady.append(time.perf_counter() - t0)
  return {"case": case, "tasks": num_tasks,
          "shared": sum(int(np.prod(v.shape)) for v in
                        model.trainable_variables[:2 * len(TRUNK)]),
          "added_mib": round(peak.added), "construction_s": built - start,
          "first_step_s": first - built,
          "steady_step_s": statistics.median(steady)}


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--cases", default=",".join(CASES))
  p.add_argument("--tasks", default="2,3,4,8")
  p.add_argument("--case", default=None, help="run one case here (a child)")
  a = p.parse_args()
  if a.case:
    print(json.dumps(child(a.case, int(a.tasks))), flush=True)
    return
  rows = []
  for t in [int(s) for s in a.tasks.split(",")]:
    for case in a.cases.split(","):
      out = subprocess.run(
          [sys.executable, __file__, f"--case={case}", f"--tasks={t}"],
          capture_output=True, text=True, check=False)
      if out.returncode:
        print(f"{case} T={t} failed: {out.stderr[-500:]}", file=sys.stderr)
        continue
      rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
      print(json.dumps(rows[-1]), flush=True)
  print()
  print("| case | T | added peak MiB | per task MiB | construction + "
        "first step s | steady step s | steady / fixed | (1 + 2T)/3 |")
  print("|---|---:|---:|---:|---:|---:|---:|---:|")
  fixed = {r["tasks"]: r["steady_step_s"] for r in rows
           if r["case"] == "fixed"}
  for r in rows:
    t = r["tasks"]
    ratio = (r["steady_step_s"] / fixed[t]) if t in fixed else float("nan")
    print(f"| {r['case']} | {t} | {r['added_mib']} | "
          f"{r['added_mib'] / t:.0f} | "
          f"{r['construction_s'] + r['first_step_s']:.2f} | "
          f"{r['steady_step_s']:.3f} | {ratio:.2f} | {(1 + 2 * t) / 3:.2f} |")


if __name__ == "__main__":
  main()
