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

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from tfmtl import checkpoint, evaluation, experiment  # noqa: E402
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
    report = evaluation.evaluate_run(experiment.load_config(_CONFIG), _WORKDIR.value,
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
