r"""Evaluates the latest checkpoint of a run: metrics, cost, Δm%, pictures.

  python eval.py --workdir=runs/toy
  python eval.py --workdir=runs/demo \
      --single_task=runs/demo_semantic,runs/demo_depth,runs/demo_motion \
      --export_dir=runs/demo/export --format=markdown
  python eval.py --workdir=runs/toy --config=configs/toy_two_task.py \
      --config.eval_batch_size=50

The run's own config (`<workdir>/config.json`) is used unless --config is
given; a given config may differ from it only in evaluation settings
(eval_*) and run-control keys (steps, logging, strategy ...). To evaluate on
other data, pass --other_data with a config whose `data` differs: the report
says so and goes to `results_<split>_other_data.json`.

Writes `<workdir>/results_<split>.json` (read by tools/compare.py and by
other runs' --single_task) and pictures under `<workdir>/pictures/`. If the
newest checkpoint is damaged, the one before is evaluated (with a warning).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from tfmtl import quiet  # noqa: E402
quiet.import_tensorflow()  # TensorFlow's start-up noise filtered out

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from tfmtl import checkpoint, cli, evaluation, experiment  # noqa: E402
from tfmtl.errors import UserError  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Default: the run's own config (<workdir>/config.json). "
    "A config given here may differ from it only in eval settings.",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "The run's workdir.")
_SPLIT = flags.DEFINE_string("split", None, "Split to evaluate "
                             "(default: config.eval_split).")
_EXPORT_DIR = flags.DEFINE_string(
    "export_dir", None, "Write the serving export here: one artefact per "
    "--export_formats (the SavedModel, endpoint `serve`, at the directory "
    "itself).")
_EXPORT_FORMATS = flags.DEFINE_list(
    "export_formats", ["saved_model"], "With --export_dir: any of "
    "saved_model, tflite (model.tflite), tflite_int8 (model_int8.tflite), "
    "onnx (model.onnx; the `onnx` extra).")
_EXPORT_LOGITS = flags.DEFINE_bool(
    "export_logits", False, "The SavedModel also returns <task>_logits.")
_MODEL_FILE = flags.DEFINE_string(
    "model_file", None, "Evaluate this exported .tflite or .onnx (from "
    "--export_formats) instead of the checkpoint; results go to "
    "results_<split>_<file>_<ext>.json (model.tflite: "
    "results_test_model_tflite.json).")
_SINGLE = flags.DEFINE_list(
    "single_task", [], "Workdirs of single-task baselines (already "
    "evaluated) for Δm%.")
_OTHER_DATA = flags.DEFINE_bool(
    "other_data", False, "Allow --config to name other data than the run "
    "was trained on (results go to results_<split>_other_data.json).")
_PICTURES = flags.DEFINE_integer("pictures", 4, "Examples to draw (0: none).",
                                 lower_bound=0)
_FORMAT = flags.DEFINE_enum("format", "text", ["text", "json", "markdown"],
                            "How to print the results.")


def main(argv):
  cli.unexpected(argv)
  logging.set_verbosity(logging.WARNING)
  try:
    workdir = _WORKDIR.value
    checkpoint.check_workdir(workdir)
    if not os.path.isdir(workdir):
      raise UserError(f"workdir {workdir!r} does not exist: train first with "
                      f"train.py --workdir={workdir}")
    given = (experiment.load_config(_CONFIG)
             if flags.FLAGS["config"].present else None)
    config, other = evaluation.run_config(workdir, given, _OTHER_DATA.value)
    if _OTHER_DATA.value:
      print("note: evaluating on other data than the run was trained on"
            + (f" ({', '.join(other)})" if other else " (none differs)")
            + "; results go to "
            + evaluation.results_path(workdir, "<split>", True),
            file=sys.stderr, flush=True)
    report = evaluation.evaluate_run(
        config, workdir, _SPLIT.value, _EXPORT_DIR.value, _SINGLE.value,
        _PICTURES.value, other_data=other if _OTHER_DATA.value else None,
        export_formats=_EXPORT_FORMATS.value,
        export_logits=_EXPORT_LOGITS.value, model_file=_MODEL_FILE.value)
  except UserError as e:
    cli.report(e)
    sys.exit(2)
  print(evaluation.format_report(report, _FORMAT.value))
  if _EXPORT_DIR.value:
    print(f"exported {', '.join(_EXPORT_FORMATS.value)} to "
          f"{_EXPORT_DIR.value}", file=sys.stderr)


if __name__ == "__main__":
  flags.mark_flags_as_required(["workdir"])
  app.run(main, flags_parser=cli.parse_flags)
