r"""Evaluates the latest checkpoint of a run; optionally exports a SavedModel.

  python eval.py --config=configs/toy_two_task.py --workdir=runs/toy
  python eval.py --config=configs/toy_two_task.py --workdir=runs/toy \
      --export_dir=runs/toy/export --format=json
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from tfmtl import checkpoint, distribute, experiment  # noqa: E402
from tfmtl import export as export_lib  # noqa: E402
from tfmtl.errors import UserError  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "The config the run was trained with.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "The run's workdir.")
_SPLIT = flags.DEFINE_string("split", None, "Split to evaluate "
                             "(default: config.eval_split).")
_EXPORT_DIR = flags.DEFINE_string(
    "export_dir", None, "Write a SavedModel (serving endpoint `serve`) here.")
_FORMAT = flags.DEFINE_enum("format", "text", ["text", "json", "markdown"],
                            "How to print the results.")


def evaluate(config, workdir, split=None, export_dir=None) -> dict:
  """Restores the latest checkpoint, evaluates, and optionally exports."""
  strategy = distribute.make_strategy("default")
  exp = experiment.build(config, strategy, with_step=False)
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"),
                                 model=exp.model)
  if not ckpt.latest:
    raise UserError(f"no checkpoint in {workdir!r}: train first with "
                    f"train.py --workdir={workdir}")
  ckpt.checkpoint.restore(ckpt.latest).expect_partial()
  results = experiment.evaluate(exp.model, exp.tasks, exp.source,
                                split or config.eval_split,
                                config.eval_batch_size)
  if export_dir:
    spec = exp.source.dataset("train", 1).element_spec[0]
    export_lib.export_saved_model(exp.model, spec, export_dir)
  return results


def format_results(results, fmt: str) -> str:
  if fmt == "json":
    return json.dumps(results, indent=2, sort_keys=True)
  metrics = sorted({m for r in results.values() for m in r})
  if fmt == "markdown":
    lines = ["| task | " + " | ".join(metrics) + " |",
             "|---|" + "---|" * len(metrics)]
    for task, r in results.items():
      lines.append(f"| {task} | " + " | ".join(
          f"{r[m]:.5g}" if m in r else "" for m in metrics) + " |")
    return "\n".join(lines)
  return "\n".join(f"{task}: " + ", ".join(f"{k}={v:.5g}"
                                            for k, v in r.items())
                   for task, r in results.items())


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  try:
    checkpoint.check_workdir(_WORKDIR.value)
    results = evaluate(experiment.load_config(_CONFIG), _WORKDIR.value,
                       _SPLIT.value, _EXPORT_DIR.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  print(format_results(results, _FORMAT.value))
  if _EXPORT_DIR.value:
    print(f"exported SavedModel to {_EXPORT_DIR.value}", file=sys.stderr)


if __name__ == "__main__":
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main, flags_parser=experiment.parse_flags)
