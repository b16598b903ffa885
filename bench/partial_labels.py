r"""What partly labelled batches cost: step and trace time with sample weights.

Run (CPU):
  TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/partial_labels.py --steps 20

On `correlated_regression` (seed 003's MLP, T = 2) and `gradnorm_toy` with
σ = 1..10 (T = 10, the paper's 4×100 trunk), each method's step is built three ways: plain
batches `(x, y)`; batches with sample weights, every task labelled; the same
with one task absent (all its weights 0). With weights, gradient-level
methods trace their rule once per possible number of present tasks
(aggregation/absent.py), so the first call costs more; a step then runs
one branch; with a task absent the step also holds that task's head and
its optimizer slots where they were (engine/apply.py, `AbsentHold`: a copy
and a select of the heads' variables and Adam's two moments, every weighted
step). The optimizer is Adam (`--optimizer sgd` for plain SGD, which has no
slots). Reports the first call (trace + one step) and the fastest of
`--rounds` rounds of `--steps` steps, as ratios to the plain step of the
same method, all measured in one run (round-robin), so they are comparable
on a loaded machine; absolute times are not.
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf

from tfmtl import data, methods, models
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step


def _mse(y, p):
  return tf.reduce_mean(tf.square(y - p), axis=-1)


def _problems(batch):
  for name, source, kwargs in (
      ("correlated_regression", {}, dict(dropout=0.0)),
      ("gradnorm_toy", dict(sigmas=[float(s) for s in range(1, 11)]),
       dict(output_dim=100, trunk_units=[100] * 4, tower_units=[],
            dropout=0.0))):
    x, y = data.get(name, **source).arrays("train")
    names = sorted(y)
    yield (f"{name} (T = {len(names)})", names,
           lambda names=names, kwargs=kwargs: models.get(
               "hard_sharing", task_names=names, **kwargs),
           x[:batch], {k: v[:batch] for k, v in y.items()})


def _batches(x, y, names):
  ones = {t: tf.ones([len(x)]) for t in names}
  absent = dict(ones, **{names[-1]: tf.zeros([len(x)])})
  return {"plain": (x, y), "weighted": (x, y, ones),
          "one absent": (x, y, absent)}


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--methods", default="fixed,pcgrad,mgda,cagrad,upgrad,"
                      "nash_mtl,imtl")
  parser.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
  args = parser.parse_args()
  optimizer = {"adam": lambda: keras.optimizers.Adam(1e-3),
               "sgd": lambda: keras.optimizers.SGD(1e-3)}[args.optimizer]
  for title, names, make_model, x, y in _problems(args.batch):
    batches = _batches(tf.constant(x), {k: tf.constant(v) for k, v in
                                        y.items()}, names)
    steps, first = {}, {}
    warm = make_model()  # the first build of a process is slower
    warm(x[:2])
    make_train_step(warm, [Task(n, _mse) for n in names], methods.get(
        "fixed"), optimizer())(batches["plain"])
    for m in args.methods.split(","):
      for kind, batch in batches.items():
        model = make_model()
        model(x[:2])
        step = make_train_step(model, [Task(n, _mse) for n in names],
                               methods.get(m), optimizer())
        t = time.perf_counter()
        step(batch)
        first[m, kind] = time.perf_counter() - t
        steps[m, kind] = (step, batch)
    best = {k: float("inf") for k in steps}
    for _ in range(args.rounds):
      for key, (step, batch) in steps.items():
        t = time.perf_counter()
        for _ in range(args.steps):
          logs = step(batch)
        float(logs["total_loss"])
        best[key] = min(best[key], (time.perf_counter() - t) / args.steps)
    print(f"\n### {title}, batch {args.batch}\n")
    print("| method | plain step (ms) | weighted / plain | one absent / plain "
          "| first call: weighted / plain |")
    print("|---|---|---|---|---|")
    for m in args.methods.split(","):
      p = best[m, "plain"]
      print(f"| {m} | {1e3 * p:.2f} | {best[m, 'weighted'] / p:.2f} | "
            f"{best[m, 'one absent'] / p:.2f} | "
            f"{first[m, 'weighted'] / first[m, 'plain']:.2f} |")


if __name__ == "__main__":
  main()
