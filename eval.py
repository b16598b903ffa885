r"""Evaluates the latest checkpoint of a run: metrics, cost, Δm%, pictures.

  python eval.py --config=configs/toy_two_task.py --workdir=runs/toy
  python eval.py --config=configs/demo.py --workdir=runs/demo \
      --single_task=runs/demo_semantic,runs/demo_depth,runs/demo_motion \
      --export_dir=runs/demo/export --format=markdown

Writes `<workdir>/results_<split>.json` (read by tools/compare.py and by
other runs' --single_task) and pictures under `<workdir>/pictures/`.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from tfmtl import checkpoint, distribute, evaluation, experiment  # noqa: E402
from tfmtl import export as export_lib  # noqa: E402
from tfmtl import models, pictures  # noqa: E402
from tfmtl.errors import UserError  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "The config the run was trained with.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "The run's workdir.")
_SPLIT = flags.DEFINE_string("split", None, "Split to evaluate "
                             "(default: config.eval_split).")
_EXPORT_DIR = flags.DEFINE_string(
    "export_dir", None, "Write a SavedModel (serving endpoint `serve`) here.")
_SINGLE = flags.DEFINE_list(
    "single_task", [], "Workdirs of single-task baselines (already "
    "evaluated) for Δm%.")
_PICTURES = flags.DEFINE_integer("pictures", 4, "Examples to draw (0: none).")
_FORMAT = flags.DEFINE_enum("format", "text", ["text", "json", "markdown"],
                            "How to print the results.")


def results_path(workdir, split):
  return os.path.join(workdir, f"results_{split}.json")


def load_results(workdir, split):
  path = results_path(workdir, split)
  if not os.path.exists(path):
    raise UserError(f"{path} not found: run eval.py on {workdir} first")
  with open(path) as f:
    return json.load(f)


def evaluate(config, workdir, split=None, export_dir=None, single_task=(),
             num_pictures=0) -> dict:
  """Restores the latest checkpoint, evaluates, draws, and exports."""
  split = split or config.eval_split
  exp = experiment.build(config, distribute.make_strategy("default"),
                         with_step=False)
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"),
                                 model=exp.model)
  if not ckpt.latest:
    raise UserError(f"no checkpoint in {workdir!r}: train first with "
                    f"train.py --workdir={workdir}")
  ckpt.checkpoint.restore(ckpt.latest).expect_partial()
  first = []
  odometry = (evaluation.OdometryCollector(exp.source, split)
              if evaluation.OdometryCollector.applies(exp.source, exp.tasks)
              else None)

  def on_batch(x, y, out):
    if not first:
      first.append((x, y, out))
    if odometry:
      odometry.add(x, y, out)

  metrics = evaluation.evaluate_with_config(
      exp.model, exp.tasks, exp.source, config, split, on_batch=on_batch)
  if odometry:
    metrics["odometry"] = odometry.results()
  spec = exp.source.dataset("train", 1).element_spec[0]
  shapes = ({k: v.shape[1:] for k, v in spec.items()}
            if isinstance(spec, dict) else tf.TensorSpec(spec.shape[1:]))
  cost = models.cost(exp.model, shapes)
  report = {
      "metrics": metrics,
      "headline": evaluation.headline(metrics, config.get("eval_metrics")),
      "params": cost.params, "gmacs": cost.gmacs,
      "task_gmacs": {k: v.gmacs for k, v in cost.tasks.items()},
      "method": config.method, "model": config.model.name,
      "tasks": [t.name for t in exp.tasks], "seed": config.seed,
      "step": int(ckpt.latest.rsplit("-", 1)[-1]), "split": split,
  }
  if single_task:
    base = {}
    for wd in single_task:
      base.update(load_results(wd, split)["metrics"])
    report["delta_m"] = evaluation.delta_m(metrics, base,
                                           config.get("eval_metrics"))
  if num_pictures and first:
    directory = os.path.join(workdir, "pictures")
    report["pictures"] = pictures.draw(directory, split, *first[0],
                                       num_pictures)
    if odometry:
      report["pictures"] += pictures.trajectories(
          directory, split, odometry.trajectories(), num_pictures)
  with open(results_path(workdir, split), "w") as f:
    json.dump(report, f, indent=2, sort_keys=True)
  if export_dir:
    export_lib.export_saved_model(exp.model, spec, export_dir)
  return report


def format_report(report, fmt: str) -> str:
  if fmt == "json":
    return json.dumps(report, indent=2, sort_keys=True)
  metrics = report["metrics"]
  lines = []
  if fmt == "markdown":
    lines += ["| task | metric | value |", "|---|---|---|"]
    for task, values in metrics.items():
      lines += [f"| {task} | {k} | {v:.5g} |" for k, v in values.items()]
  else:
    lines += [f"{task}: " + ", ".join(f"{k}={v:.5g}" for k, v in
                                      values.items())
              for task, values in metrics.items()]
  lines.append(f"params {report['params']:,}  GMACs {report['gmacs']:.4g}")
  if "delta_m" in report:
    lines.append(f"Δm% vs single-task: {report['delta_m']:+.2f}")
  return "\n".join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  try:
    checkpoint.check_workdir(_WORKDIR.value)
    report = evaluate(experiment.load_config(_CONFIG), _WORKDIR.value,
                      _SPLIT.value, _EXPORT_DIR.value, _SINGLE.value,
                      _PICTURES.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  print(format_report(report, _FORMAT.value))
  if _EXPORT_DIR.value:
    print(f"exported SavedModel to {_EXPORT_DIR.value}", file=sys.stderr)


if __name__ == "__main__":
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main, flags_parser=experiment.parse_flags)
