r"""Results table of several evaluated runs, as Markdown and a PNG chart.

  python tools/compare.py runs/st_semantic runs/st_depth runs/st_motion \
      runs/equal runs/uncertainty runs/pcgrad --split=test \
      --out=RESULTS_table.md --png=docs/results.png

Each workdir must hold `results_<split>.json` (written by eval.py). Runs
trained on one task are the single-task baselines; every multi-task row gets
Δm% against them. --paired="ROW" adds a table of every other row minus
that row on the same seed (mean ± std of the differences, and on how many
seeds the row was lower): the sharper comparison when seeds share data and
initial weights. Runs that differ only in seed are grouped into one row
reporting mean ± standard deviation over seeds; runs of one method with
different method_kwargs (config.json) are separate rows, named by the
settings that differ, e.g. "pose_flow + prf (variance=mean, ...)".
"""

import collections
import json
import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tfmtl import quiet  # noqa: E402
quiet.import_tensorflow()  # TensorFlow's start-up noise filtered out

from tfmtl import evaluation  # noqa: E402
from tfmtl.errors import UserError  # noqa: E402
from tfmtl.metrics import delta_m  # noqa: E402

_SPLIT = flags.DEFINE_string("split", "test", "Split the runs were evaluated on.")
_OUT = flags.DEFINE_string("out", None, "Write the Markdown table here.")
_PNG = flags.DEFINE_string("png", None, "Write a bar chart here.")
_PAIRED = flags.DEFINE_string(
    "paired", None, "A row name (e.g. \"pose_flow + atg\"): also print every "
    "other row minus it on the same seed.")

# Shown as percent in tables: fractions in the results files.
PERCENT = {"miou", "pixel_accuracy", "abs_rel", "accuracy"}
LABELS = {"miou": "mIoU (%)", "pixel_accuracy": "pix acc (%)",
          "accuracy": "acc (%)", "abs_rel": "ARD (%)", "abs": "abs err (m)",
          "mse": "MSE", "epe": "EPE (px)", "ate": "ATE (m)",
          "t_err": "t_err (%)", "r_err": "r_err (°/100 m)"}


def load(workdir, split):
  report = evaluation.load_results(workdir, split)
  return dict(report, workdir=workdir, labels=labels_note(workdir),
              settings=method_settings(workdir, report.get("method", "")))


def run_config(workdir) -> dict:
  """The run's config.json as a dict ({} if missing or unreadable)."""
  try:
    with open(os.path.join(workdir, "config.json")) as f:
      return json.load(f)
  except (OSError, ValueError):
    return {}


def method_settings(workdir, method) -> dict:
  """The run's method_kwargs of its method (both parts of a composition
  "a+b", keys prefixed "a." / "b."), from its config.json; {} if none."""
  kwargs = run_config(workdir).get("method_kwargs") or {}
  parts = str(method).split("+")
  out = {}
  for part in parts:
    for key, value in (kwargs.get(part) or {}).items():
      out[f"{part}.{key}" if len(parts) > 1 else key] = value
  return out


def labels_note(workdir) -> str:
  """How the run's train labels were cut (label_fraction, drop_unlabelled
  in its config.json), e.g. "depth 25%, labelled images only"; "" if not."""
  kwargs = run_config(workdir).get("data", {}).get("kwargs", {}) or {}
  parts = [f"{t} {100 * float(v):.0f}%"
           for t, v in sorted((kwargs.get("label_fraction") or {}).items())]
  if parts and kwargs.get("drop_unlabelled"):
    parts.append("labelled images only")
  return ", ".join(parts)


def row_name(report, varying=(), all_tasks=()):
  """"model + method", in brackets: its tasks if they are fewer than the
  table's multi-task runs train (`all_tasks`), its settings among
  `varying` (the method kwargs that differ between runs of the table with
  this model and method) and its label cut."""
  tasks = report["tasks"]
  if len(tasks) == 1:
    name = f"single-task {tasks[0]}"
  else:
    name = f"{report['model']} + {report['method']}"
  settings = report.get("settings") or {}
  notes = ([f"only {', '.join(tasks)}"]
           if len(tasks) > 1 and set(all_tasks) - set(tasks) else [])
  notes += [f"{k}={settings[k]}" for k in varying if k in settings]
  notes += [report["labels"]] if report.get("labels") else []
  return f"{name} ({', '.join(notes)})" if notes else name


def varying_settings(reports) -> dict:
  """(model, method) -> the method kwargs whose values differ between the
  multi-task runs of that model and method (a key set in only some of
  them counts), in first-seen order: what tells their rows apart."""
  seen = collections.defaultdict(list)
  for r in reports:
    if len(r["tasks"]) > 1:
      seen[(r["model"], r["method"])].append(r.get("settings") or {})
  out = {}
  for key, settings in seen.items():
    keys = list(dict.fromkeys(k for s in settings for k in s))
    out[key] = [k for k in keys
                if len({json.dumps(s.get(k), sort_keys=True)
                        for s in settings}) > 1]
  return out


def groups(reports):
  """OrderedDict row name -> its runs (seeds of one setting pooled)."""
  out = collections.OrderedDict()
  varying = varying_settings(reports)
  all_tasks = {t for r in reports if len(r["tasks"]) > 1 for t in r["tasks"]}
  for r in reports:
    out.setdefault(row_name(r, varying.get((r["model"], r["method"]), ()),
                            all_tasks), []).append(r)
  return out


def headline_columns(reports):
  """[(task, metric, column name)] of every run's headline metrics."""
  columns = []
  for r in reports:
    for task, values in r["headline"].items():
      for metric in values:
        col = f"{task} {LABELS.get(metric, metric)}"
        if (task, metric, col) not in columns:
          columns.append((task, metric, col))
  return columns


def _value(report, task, metric):
  v = report["headline"].get(task, {}).get(metric)
  if v is None or not np.isfinite(v):
    return None
  return v * (100.0 if metric in PERCENT else 1.0)


def table(reports):
  """(columns, rows): rows are (name, {column: (mean, std)}, seeds)."""
  # Single-task baselines: each headline metric (the one the run's config
  # chose, e.g. accuracy for a task named "left") averaged over the seeds.
  pooled = collections.defaultdict(lambda: collections.defaultdict(list))
  for r in reports:
    if len(r["tasks"]) == 1:
      for task, values in r["headline"].items():
        for metric, v in values.items():
          pooled[task][metric].append(v)
  single = {t: {m: float(np.mean(v)) for m, v in ms.items()}
            for t, ms in pooled.items()}
  columns = headline_columns(reports)
  rows = []
  for name, runs in groups(reports).items():
    cells = {}
    for task, metric, col in columns:
      vals = [v for v in (_value(r, task, metric) for r in runs)
              if v is not None]
      if vals:
        cells[col] = (np.mean(vals), np.std(vals))
    cells["GMACs"] = (np.mean([r["gmacs"] for r in runs]), 0.0)
    if single and len(runs[0]["tasks"]) > 1:
      dm = [delta_m(r["metrics"], {
          t: v for t, v in single.items() if t in r["metrics"]},
                    higher_is_better=evaluation.HIGHER_IS_BETTER)
            for r in runs]
      cells["Δm%"] = (np.mean(dm), np.std(dm))
    rows.append((name, cells, sorted({r["seed"] for r in runs})))
  # Columns no run could fill (e.g. the KITTI metric on drives < 100 m).
  names = [c for _, _, c in columns if any(c in cells for _, cells, _ in rows)]
  names += ["GMACs"] + (["Δm%"] if single else [])
  return names, rows


def paired(reports, reference):
  """Each row minus the `reference` row on the same seed, per headline
  column: (columns, rows), rows (name, {column: (mean, std, lower, n)},
  seeds) with `lower` the seeds where the row's value is below the
  reference's. Seeds the reference lacks are left out."""
  by_row = groups(reports)
  if reference not in by_row:
    raise UserError(f"--paired={reference!r} is not a row; rows are "
                    f"{list(by_row)}")
  ref = {r["seed"]: r for r in by_row[reference]}
  columns = headline_columns(reports)
  rows = []
  for name, runs in by_row.items():
    if name == reference or len(runs[0]["tasks"]) == 1:
      continue
    cells, seeds = {}, set()
    for task, metric, col in columns:
      diffs = []
      for r in runs:
        if r["seed"] in ref:
          a, b = _value(r, task, metric), _value(ref[r["seed"]], task, metric)
          if a is not None and b is not None:
            diffs.append(a - b)
            seeds.add(r["seed"])
      if diffs:
        cells[col] = (np.mean(diffs), np.std(diffs),
                      int(np.sum(np.array(diffs) < 0)), len(diffs))
    rows.append((name, cells, sorted(seeds)))
  names = [c for _, _, c in columns if any(c in cells for _, cells, _ in rows)]
  return names, rows


def markdown(names, rows, first="run", cell=None) -> str:
  """A Markdown table of `rows` (name, {column: value}, seeds); `cell`
  formats a value (default: mean ± std, the mean alone for one seed)."""
  lines = [f"| {first} | " + " | ".join(names) + " | seeds |",
           "|---|" + "---|" * (len(names) + 1)]
  for name, cells, seeds in rows:
    fmt = cell or (lambda v, one=len(seeds) == 1: (
        f"{v[0]:.3g}" if one or v[1] == 0 else f"{v[0]:.3g} ± {v[1]:.2g}"))
    out = [fmt(cells[c]) if c in cells else "" for c in names]
    lines.append(f"| {name} | " + " | ".join(out) +
                 f" | {','.join(map(str, seeds))} |")
  return "\n".join(lines)


def paired_markdown(names, rows, reference) -> str:
  return markdown(names, rows, f"run − {reference} (same seed)",
                  lambda v: f"{v[0]:+.3g} ± {v[1]:.2g} ({v[2]}/{v[3]} lower)")


def chart(names, rows, path):
  import matplotlib
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure
  del matplotlib
  cols = [c for c in names if c != "GMACs"]
  fig = Figure(figsize=(3.2 * len(cols), 3.6))
  FigureCanvasAgg(fig)
  # "model + method" rows of one model are labelled by the method alone,
  # the model named once in the title.
  models = {n.split(" + ")[0] for n, _, _ in rows if " + " in n}
  label = ((lambda n: n.split(" + ", 1)[-1]) if len(models) == 1
           else (lambda n: n))
  if len(models) == 1:
    fig.suptitle(f"{models.pop()} + method vs single-task", fontsize=9)
  for i, c in enumerate(cols):
    ax = fig.add_subplot(1, len(cols), i + 1)
    present = [(n, cells[c]) for n, cells, _ in rows if c in cells]
    ax.bar(range(len(present)), [m for _, (m, _) in present],
           yerr=[s for _, (_, s) in present], color="tab:blue")
    ax.set_xticks(range(len(present)))
    ax.set_xticklabels([label(n) for n, _ in present],
                       rotation=60, ha="right", fontsize=7)
    ax.set_title(c, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)


def main(argv):
  workdirs = argv[1:]
  try:
    if not workdirs:
      raise UserError("give the workdirs of evaluated runs to compare")
    reports = [load(w, _SPLIT.value) for w in workdirs]
    names, rows = table(reports)
    text = markdown(names, rows)
    if _PAIRED.value:
      text += "\n\n" + paired_markdown(*paired(reports, _PAIRED.value),
                                       _PAIRED.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  print(text)
  if _OUT.value:
    with open(_OUT.value, "w") as f:
      f.write(text + "\n")
  if _PNG.value:
    chart(names, rows, _PNG.value)


if __name__ == "__main__":
  app.run(main)
