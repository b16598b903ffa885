r"""Train-step time of every registered balancing method, relative to `fixed`.

Run (CPU):
  TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/methods.py --steps 20

Three problems: the two toy problems on the hard-sharing MLP
(`correlated_regression` with seed 003's MLP, `gradnorm_toy` with the
paper's 4×100 trunk) and the `hard_sharing_conv` model on 64×64 images with
two per-pixel regression tasks. For each method: build, run two steps
(trace); then `--rounds` rounds, each timing `--steps` steps of every
method in turn, keeping each method's fastest round. All methods of a problem are measured in one run, so the
ratios are comparable even on a loaded machine; absolute times are not.
Prints a Markdown table.

`--methods` takes names, `NAME@rep` for a Gramian-based method at the
representation level (rep_grad=True) and compositions (`uncertainty+pcgrad`);
by default every registered method and every representation-level form.
Methods that read three batches a step (modo, sdmgrad) get the same batch
three times: their cost is three forward + backward passes.
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf

from tfmtl import data, methods, models
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step

KWARGS = {"dwa": dict(steps_per_epoch=10), "rlw": dict(seed=0),
          "graddrop": dict(seed=0), "stch": dict(steps_per_epoch=10)}
# methods that need an auxiliary task
AUX = {"atg", "prf", "cosine", "cosine_weighted", "aux_project",
       "metabalance"}


def _mean_abs(y, p):
  return tf.reduce_mean(tf.abs(y - p), axis=list(range(1, len(p.shape))))


def _mse(y, p):
  return tf.reduce_mean(tf.square(y - p), axis=list(range(1, len(p.shape))))


def _kpi(y, p):
  return tf.reduce_mean(tf.exp(-_mean_abs(y, p)))


def _problems(batch):
  src = data.get("correlated_regression")
  x, y = src.arrays("train")
  yield ("correlated_regression (MLP 64, towers 32-16)",
         lambda names: models.get("hard_sharing", task_names=names,
                                  dropout=0.0),
         (x[:batch], {k: v[:batch] for k, v in y.items()}))
  src = data.get("gradnorm_toy")
  x, y = src.arrays("train")
  yield ("gradnorm_toy (MLP 4×100, affine heads)",
         lambda names: models.get("hard_sharing", task_names=names,
                                  output_dim=100, trunk_units=[100] * 4,
                                  tower_units=[], dropout=0.0),
         (x[:batch], {k: v[:batch] for k, v in y.items()}))
  rng = np.random.default_rng(0)
  img = rng.uniform(size=(16, 64, 64, 3)).astype(np.float32)
  labels = {"a": img.mean(-1, keepdims=True),
            "b": img[..., :1] - img[..., 1:2]}
  yield ("hard_sharing_conv 64×64 (filters 32-64-128-256), B=16",
         lambda names: models.get("hard_sharing_conv",
                                  tasks={n: 1 for n in names}),
         ({"image": img}, labels))


def _gramian_methods():
  from tfmtl import aggregation  # pylint: disable=g-import-not-at-top
  from tfmtl.aggregation.solvers import GramianWeighted  # pylint: disable=g-import-not-at-top
  return [n for n in aggregation.AGGREGATORS.names()
          if not n.endswith("_ub") and isinstance(
              aggregation.AGGREGATORS.factory(n), type) and issubclass(
                  aggregation.AGGREGATORS.factory(n), GramianWeighted)]


def _build(make_model, batch, name):
  inputs, labels = batch
  names = sorted(labels)
  model = make_model(names)
  model(inputs)
  roles = ["main"] + ["aux" if name in AUX else "main"] * (len(names) - 1)
  tasks = [Task(n, _mse, role=r, kpi=_kpi) for n, r in zip(names, roles)]
  base, rep = name.split("@")[0], name.endswith("@rep")
  kwargs = dict(KWARGS.get(base, {}), **({"rep_grad": True} if rep else {}))
  method = methods.get(base, **kwargs)
  step = make_train_step(model, tasks, method, keras.optimizers.SGD(1e-4))
  batch = (tf.nest.map_structure(tf.constant, inputs),
           {k: tf.constant(v) for k, v in labels.items()})
  if step.batches_per_step > 1:
    batch = (batch,) * step.batches_per_step
  for _ in range(2):
    step(batch)  # trace and warm up
  return step, batch


def _time(step, batch, steps):
  start = time.perf_counter()
  for _ in range(steps):
    logs = step(batch)
  float(logs["total_loss"])  # wait for the last step
  return (time.perf_counter() - start) / steps


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--batch", type=int, default=100)
  parser.add_argument("--methods", default="")
  args = parser.parse_args()
  names = args.methods.split(",") if args.methods else (
      methods.names() + [f"{n}@rep" for n in _gramian_methods()])
  names = ["fixed"] + [n for n in names if n != "fixed"]
  problems = list(_problems(args.batch))
  table = {}
  for title, make_model, batch in problems:
    built = {}
    for name in names:
      try:
        built[name] = _build(make_model, batch, name)
      except Exception as e:  # pylint: disable=broad-except
        # A method that can't run on a problem (krum needs three tasks)
        # gets a blank, not a stopped table.
        print(f"# {name} on {title}: {type(e).__name__}: {e}")
        table[(title, name)] = np.nan
    # Round-robin over the methods, best round each: load drift on a shared
    # machine hits every method alike.
    for _ in range(args.rounds):
      for name, (step, b) in built.items():
        t = _time(step, b, args.steps)
        table[(title, name)] = min(table.get((title, name), np.inf), t)
  short = [t.split(" (")[0].split(" ")[0] for t, _, _ in problems]
  print("| method | " + " | ".join(f"{s} ms | × fixed" for s in short) + " |")
  print("|---|" + "---:|---:|" * len(problems))
  for name in names:
    cells = []
    for title, _, _ in problems:
      t, ref = table[(title, name)], table[(title, "fixed")]
      cells += [f"{1e3 * t:.2f}", f"{t / ref:.2f}"]
    print(f"| {name} | " + " | ".join(cells) + " |")
  for title, _, _ in problems:
    print(f"# {title}")


if __name__ == "__main__":
  main()
