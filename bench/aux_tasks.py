r"""Auxiliary-task methods on the controlled benchmark (`aux_regression`).

Run (CPU, one process; 19 min for 12 methods × 3 variants × 5 seeds on a
2-core machine shared with other jobs, load ≈ 9):
  TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/aux_tasks.py \
      --seeds 0,1,2,3,4 --out runs/aux_tasks.json --picture docs/aux_tasks.png
  # table and picture again from the JSON:
  .venv/bin/python bench/aux_tasks.py --replot runs/aux_tasks.json

For every variant (helpful, mixed, harmful), seed and method: the
`aux_regression` source of that seed (512 training inputs in R^16, all with
the 4 auxiliary features, 32 with a noisy main label; directions,
coefficients and data drawn from the seed), a hard-sharing MLP (trunk
Dense 32 → Dense 8, ReLU; one linear head per task) initialised from that
seed (the same initial weights for every method), `--steps` Adam steps on
shuffled batches of `--batch` (about 2 main labels a batch), then the main
task's test error: MSE on 2048 noiseless test labels divided by their
variance (1.0 is predicting the mean). The main loss is the batch mean of a
squared error that is 0 where the label is missing, so the auxiliary task
(labelled everywhere) dominates the shared layers unless a method holds it
back. Main-only trains the same trunk and main head without the auxiliary
task. Every `--log_every` steps the methods' logs (`beta/…`, `gate/…`,
`agree/…`, `scale/…`, `cos/…`) are recorded.

Prints a Markdown table of test error mean ± std (ddof 1) over seeds per
variant, and the paired difference to ATG (same seed: same data and initial
weights) as mean ± std; writes everything to --out (JSON) and draws
--picture.
"""

import argparse
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from tfmtl import data, methods, models
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step

# (label, registered method, kwargs, auxiliary weight or None for
# --aux_weight); method None is main-only. "B" in kwargs is --batch.
METHODS = [
    ("main-only", None, {}, None),
    ("atg", "atg", {}, None),
    ("atg w=0.3", "atg", {}, 0.3),
    ("atg w=0.03", "atg", {}, 0.03),
    ("prf", "prf", {}, None),
    ("prf mean", "prf", dict(variance="mean", batch_size="B"), None),
    ("prf layer", "prf", dict(granularity="layer"), None),
    ("prf mean+layer", "prf",
     dict(variance="mean", batch_size="B", granularity="layer"), None),
    ("prf mean+layer+ema", "prf",
     dict(variance="mean", batch_size="B", granularity="layer",
          gate_ema=0.9), None),
    ("prf gate_ema", "prf", dict(gate_ema=0.9), None),
    ("cosine", "cosine", {}, None),
    ("cosine whole", "cosine", dict(per_layer=False), None),
    ("cosine_weighted", "cosine_weighted", {}, None),
    ("aux_project", "aux_project", {}, None),
    ("aux_project layer", "aux_project", dict(per_layer=True), None),
    ("metabalance", "metabalance", {}, None),
]
# Run when --methods is not given (the others: --methods=all or by label).
DEFAULT = ("main-only", "atg", "atg w=0.3", "atg w=0.03", "prf",
           "prf mean", "prf layer", "prf mean+layer", "prf mean+layer+ema",
           "cosine", "cosine_weighted", "aux_project", "metabalance")
GATE_PREFIXES = ("beta/", "gate/", "agree/", "scale/", "cos/")


def _mse(y, p):
  return tf.reduce_mean(tf.square(y - p), axis=-1)


def _main_mse(y, p):
  """Squared error of the head's first output; 0 where the label is NaN.

  The main head has K outputs like the auxiliary one (one hard-sharing
  model); the main task reads the first.
  """
  missing = tf.math.is_nan(y)
  err = tf.square(tf.where(missing, 0.0, y) - p[:, :1])
  return tf.reduce_mean(tf.where(missing, 0.0, err), axis=-1)


def run_one(source, method, kwargs, aux_weight, seed, args):
  """(test error, {log key: [values over training]}) of one run."""
  main_only = method is None
  names = ["main"] if main_only else ["main", "aux"]
  # The main loss is a mean over the whole batch, of which n_main/n_train
  # have a main label (a loss that skips missing labels): the auxiliary
  # task, labelled everywhere, dominates the shared layers unless gated.
  tasks = [Task("main", _main_mse, args.main_weight, "main")]
  if not main_only:
    tasks.append(Task("aux", _mse, aux_weight or args.aux_weight, "aux"))
  kwargs = {k: args.batch if v == "B" else v for k, v in kwargs.items()}
  model = models.get("hard_sharing", task_names=names, dropout=0.0,
                     seed=seed, trunk_units=args.trunk,
                     output_dim=source.arrays("test")[1]["aux"].shape[1],
                     tower_units=args.tower)
  x_test, y_test = source.arrays("test")
  model(x_test[:2])
  agg = methods.get("sum" if main_only else method, **kwargs)
  step = make_train_step(model, tasks, agg,
                         keras.optimizers.Adam(args.lr))
  ds = source.dataset("train", args.batch, shuffle=True, repeat=True,
                      seed=seed)
  ds = ds.map(lambda x, y: (x, {n: y[n] for n in names}))
  it = iter(ds)
  trace = {}
  for _ in range(args.steps // args.log_every):
    logs = step.loop(it, args.log_every)
    for k, v in logs.items():
      if k.startswith(GATE_PREFIXES):
        trace.setdefault(k, []).append(float(v))
  pred = model(x_test, training=False)["main"].numpy()[:, 0]
  y = y_test["main"][:, 0]
  return float(np.mean((pred - y) ** 2) / np.var(y)), trace


def table(results, labels, variants):
  """Markdown: error mean ± std and paired difference to ATG per variant."""
  head = "| method | " + " | ".join(
      f"{v}: test error | {v}: − ATG (paired)" for v in variants) + " |"
  lines = [head, "|---" * (1 + 2 * len(variants)) + "|"]
  for label in labels:
    cells = []
    for v in variants:
      err = np.array(results[v][label]["error"])
      cells.append(f"{err.mean():.3f} ± {err.std(ddof=1):.3f}")
      if label == "atg" or "atg" not in results[v]:
        cells.append("")
        continue
      diff = err - np.array(results[v]["atg"]["error"])
      cells.append(f"{diff.mean():+.3f} ± {diff.std(ddof=1):.3f}")
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def paired_table(results, labels, variants):
  """Markdown: median, paired difference to main-only, seeds beating ATG."""
  head = "| method | " + " | ".join(
      f"{v}: median | {v}: − main-only (paired) | {v}: seeds < ATG"
      for v in variants) + " |"
  lines = [head, "|---" * (1 + 3 * len(variants)) + "|"]
  for label in labels:
    cells = []
    for v in variants:
      err = np.array(results[v][label]["error"])
      diff = err - np.array(results[v]["main-only"]["error"])
      atg = np.array(results[v]["atg"]["error"])
      cells += [f"{np.median(err):.3f}",
                f"{diff.mean():+.3f} ± {diff.std(ddof=1):.3f}",
                f"{int(np.sum(err < atg))}/{len(err)}"]
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def factors_table(results, labels, variants):
  """Markdown: each method's logged factors, mean over layers, logs, seeds.

  PRF: β, the agreement factor exp(−gap²/2v) and √(v_aux/v_main); cosine,
  aux_project: the cosine and the gate; MetaBalance: the gate. `scale` is
  the median (a batch without a main label has v_main = 0 and a ratio of
  ~1e8, with β = 0, which would swamp a mean); the others are means.
  """
  lines = ["| method | factor | " + " | ".join(variants) + " |",
           "|---|---|" + "---|" * len(variants)]
  for label in labels:
    prefixes = sorted({k.split("/")[0]
                       for k in results[variants[0]][label]["trace"]})
    for prefix in prefixes:
      cells = []
      for v in variants:
        trace = results[v][label]["trace"]
        values = np.concatenate([np.ravel(trace[k]) for k in trace
                                 if k.split("/")[0] == prefix])
        stat = np.median if prefix == "scale" else np.mean
        cells.append(f"{stat(values):.3g}")
      lines.append(f"| {label} | {prefix} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


GATE_PLOT = ("prf", "prf mean+layer", "cosine", "cosine_weighted",
             "aux_project", "metabalance")
AGREE_PLOT = ("prf", "prf mean", "prf layer", "prf mean+layer")


def _curve(results, variant, label, prefix):
  """(key, mean over seeds) of the first shared layer's `prefix` log."""
  trace = results[variant][label]["trace"]
  keys = sorted(k for k in trace if k.startswith(prefix))
  if not keys:
    return None, None
  return keys[0], np.mean(trace[keys[0]], axis=0)


def picture(results, labels, variants, path):
  """Test error per method; gates and PRF's agreement factor over training."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(3, len(variants),
                           figsize=(4.5 * len(variants), 11), squeeze=False)
  steps = None
  for j, v in enumerate(variants):
    ax = axes[0, j]
    errs = [np.array(results[v][l]["error"]) for l in labels]
    colors = ["grey" if l == "main-only" else "tab:blue"
              if l.startswith("atg") else "tab:red" if l.startswith("prf")
              else "tab:green" for l in labels]
    ax.bar(range(len(labels)), [e.mean() for e in errs],
           yerr=[e.std(ddof=1) if len(e) > 1 else 0 for e in errs],
           capsize=3, color=colors)
    ax.set_xticks(range(len(labels)), labels, rotation=70, ha="right",
                  fontsize=7)
    ax.set_title(f"{v}: main-task test error (lower is better)", fontsize=9)
    for row, names, prefix, title in (
        (1, GATE_PLOT, ("beta/", "gate/"), "auxiliary gate"),
        (2, AGREE_PLOT, ("agree/",), "PRF agreement factor")):
      ax = axes[row, j]
      for l in names:
        if l not in labels:
          continue
        key, curve = _curve(results, v, l, prefix)
        if key is None:
          continue
        steps = np.arange(1, len(curve) + 1) * results["log_every"]
        ax.plot(steps, curve, label=f"{l} ({key.split('/')[0]})")
      ax.set_yscale("symlog", linthresh=1e-3)  # gates span 0 .. 2
      ax.set_xlabel("step")
      ax.set_title(f"{v}: {title}, layer shared_dense_0", fontsize=9)
      ax.legend(fontsize=6)
  fig.tight_layout()
  fig.savefig(path, dpi=70)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--seeds", default="0,1,2,3,4")
  parser.add_argument("--variants", default="helpful,mixed,harmful")
  parser.add_argument("--methods", default="",
                      help="comma-separated labels, 'all', or empty: DEFAULT")
  parser.add_argument("--steps", type=int, default=400)
  parser.add_argument("--log_every", type=int, default=20)
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--lr", type=float, default=3e-3)
  parser.add_argument("--aux_weight", type=float, default=1.0)
  parser.add_argument("--main_weight", type=float, default=1.0)
  parser.add_argument("--trunk", default="32,8")
  parser.add_argument("--tower", default="")
  parser.add_argument("--n_train", type=int, default=512)
  parser.add_argument("--n_main", type=int, default=32)
  parser.add_argument("--noise", type=float, default=0.3)
  parser.add_argument("--input_dim", type=int, default=16)
  parser.add_argument("--out", default="")
  parser.add_argument("--picture", default="")
  parser.add_argument("--replot", default="",
                      help="a JSON written by --out: table and picture only")
  args = parser.parse_args()
  if args.replot:
    with open(args.replot) as f:
      results = json.load(f)
    variants = [v for v in results["args"]["variants"].split(",")]
    labels = list(results[variants[0]])
    print(table(results, labels, variants))
    if "main-only" in labels and "atg" in labels:
      print(paired_table(results, labels, variants))
    print(factors_table(results, labels, variants))
    if args.picture:
      picture(results, labels, variants, args.picture)
    return
  args.trunk = [int(u) for u in args.trunk.split(",")]
  args.tower = [int(u) for u in args.tower.split(",") if u]
  seeds = [int(s) for s in args.seeds.split(",")]
  variants = args.variants.split(",")
  wanted = (DEFAULT if not args.methods else
            [m[0] for m in METHODS] if args.methods == "all" else
            args.methods.split(","))
  chosen = [m for m in METHODS if m[0] in wanted]
  labels = [m[0] for m in chosen]
  results = {"args": vars(args), "log_every": args.log_every}
  start = time.time()
  for v in variants:
    results[v] = {l: {"error": [], "trace": {}} for l in labels}
    for seed in seeds:
      source = data.get("aux_regression", variant=v, seed=seed,
                        n_train=args.n_train, n_main=args.n_main,
                        noise=args.noise,
                        input_dim=args.input_dim)
      for label, name, kwargs, aux_weight in chosen:
        err, trace = run_one(source, name, kwargs, aux_weight, seed, args)
        entry = results[v][label]
        entry["error"].append(err)
        for k, values in trace.items():
          entry["trace"].setdefault(k, []).append(values)
      print(f"{v} seed {seed}: " + ", ".join(
          f"{l} {results[v][l]['error'][-1]:.3f}" for l in labels),
            f"({time.time() - start:.0f} s)", flush=True)
  if args.out:
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
      json.dump(results, f)
  print(table(results, labels, variants))
  if "main-only" in labels and "atg" in labels:
    print(paired_table(results, labels, variants))
  print(factors_table(results, labels, variants))
  if args.picture:
    picture(results, labels, variants, args.picture)


if __name__ == "__main__":
  main()
