r"""`Trainer.fit` against a `make_train_step` loop: the cost of Keras' loop.

Both run the same step (TrainStep.replica_step) on the same MLP (seed 003's
hard-sharing shape: 250 inputs, a 100-unit shared trunk, two 50-unit
towers), batches and optimizer. One round times one epoch of `--steps`
batches each way: `fit(epochs=1, verbose=0)` (Keras' iterator, callbacks,
logs) and a Python loop over the same dataset calling the compiled step.
Rounds alternate (the machine is shared); the ratio of medians is printed
per method.

Run:
  python bench/trainer_fit.py                       # fixed and pcgrad
  python bench/trainer_fit.py --methods=fixed,pcgrad,uncertainty --steps=400
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfmtl  # noqa: E402
from tfmtl import methods  # noqa: E402
from tfmtl.trainer import make_tasks  # noqa: E402
from tfmtl.engine import make_train_step  # noqa: E402

TASKS = {"y1": "mse", "y2": "mse"}


def mlp():
  x = keras.Input((250,))
  h = keras.layers.Dense(100, activation="relu")(x)
  out = {}
  for t in TASKS:
    tower = keras.layers.Dense(50, activation="relu")(h)
    out[t] = keras.layers.Dense(1)(tower)
  return keras.Model(x, out)


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--methods", default="fixed,pcgrad")
  p.add_argument("--steps", type=int, default=200)
  p.add_argument("--batch", type=int, default=100)
  p.add_argument("--rounds", type=int, default=7)
  p.add_argument("--steps_per_execution", type=int, default=1)
  a = p.parse_args()
  rng = np.random.default_rng(0)
  x = rng.normal(size=(a.steps * a.batch, 250)).astype(np.float32)
  y = {t: rng.normal(size=(len(x), 1)).astype(np.float32) for t in TASKS}
  ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(a.batch).cache()
  print(f"{a.steps} steps of batch {a.batch}, {a.rounds} rounds, "
        f"steps_per_execution={a.steps_per_execution}")
  print("| method | fit ms/step | loop ms/step | fit / loop |")
  print("|---|---|---|---|")
  for name in a.methods.split(","):
    trainer = tfmtl.Trainer(mlp(), TASKS, name)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3),
                    steps_per_execution=a.steps_per_execution)
    step = make_train_step(mlp(), make_tasks(TASKS), methods.get(name),
                           keras.optimizers.Adam(1e-3))

    def run_fit():
      trainer.fit(ds, epochs=1, verbose=0, shuffle=False)

    def run_loop():
      for batch in ds:
        logs = step(batch)
      float(logs["total_loss"])  # wait for the last step

    run_fit(), run_loop()  # trace and warm up
    times = {"fit": [], "loop": []}
    for _ in range(a.rounds):
      for kind, fn in (("fit", run_fit), ("loop", run_loop)):
        start = time.perf_counter()
        fn()
        times[kind].append((time.perf_counter() - start) / a.steps)
    fit, loop = (statistics.median(times[k]) for k in ("fit", "loop"))
    print(f"| {name} | {fit * 1e3:.2f} | {loop * 1e3:.2f} | "
          f"{fit / loop:.3f} |", flush=True)


if __name__ == "__main__":
  main()
