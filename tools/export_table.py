r"""What exporting costs in accuracy: each task's test metrics from the
Keras checkpoint and from its LiteRT float32, LiteRT int8 and ONNX files,
over seeds (RESULTS.md "Exported networks").

  python tools/export_table.py --what=demo --seeds=0,1,2,3,4
  python tools/export_table.py --what=mtan --seeds=0,1,2,3,4 --steps=400
  python tools/export_table.py --what=segnet --seeds=0,1,2,3,4 --steps=400

Per seed: train.py trains the configuration, eval.py evaluates the
checkpoint and writes every export (`--export_formats=saved_model,tflite,
tflite_int8,onnx`), then eval.py scores each file (`--model_file`). The
SavedModel is the Keras graph itself with the pre- and post-processing
around it (tests/test_export.py checks it against the Keras model), so it
has no column of its own. The table gives, per task and headline metric,
the Keras mean ± std over seeds and each format's paired difference
(format − Keras, same seed) as mean ± std; a difference whose mean lies
within two standard errors of zero is called none, and one below 1e-5 of
the metric on every seed is float rounding.

Runs go under --root (kept: rerunning skips what is there).
"""

import json
import os
import statistics
import subprocess
import sys

from absl import app, flags

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = {"demo": "configs/demo.py",
           "mtan": "configs/cityscapes_mtan.py:runlocal",
           "segnet": "configs/cityscapes_segnet.py:split,runlocal",
           "segnet_dense": "configs/cityscapes_segnet.py:dense,runlocal",
           "cross_stitch": "configs/cityscapes_segnet.py:cross_stitch,"
                           "runlocal"}
FILES = (("LiteRT float32", "model.tflite"),
         ("LiteRT int8", "model_int8.tflite"), ("ONNX", "model.onnx"))

_WHAT = flags.DEFINE_enum("what", "demo", list(CONFIGS), "Configuration.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "Seeds.")
_STEPS = flags.DEFINE_integer("steps", None, "Train steps (default: the "
                              "config's).")
_ROOT = flags.DEFINE_string("root", "/tmp/tfmtl_export_table",
                            "Where the runs go.")


def _run(*args):
  cmd = [sys.executable, *args]
  proc = subprocess.run(cmd, cwd=ROOT_DIR, capture_output=True, text=True,
                        check=False)
  if proc.returncode:
    raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
  return proc


def one_seed(seed: str) -> dict:
  """{column: report} of one trained seed."""
  wd = os.path.join(_ROOT.value, f"{_WHAT.value}_s{seed}")
  export = os.path.join(wd, "export")
  overrides = [f"--config.seed={seed}", "--config.jit_compile=False"]
  if _STEPS.value:
    overrides.append(f"--config.steps={_STEPS.value}")
  if not os.path.isdir(export):  # train.py resumes a run cut short
    _run("train.py", f"--config={CONFIGS[_WHAT.value]}", f"--workdir={wd}",
         *overrides)
  if not os.path.isdir(export):
    _run("eval.py", f"--workdir={wd}", f"--export_dir={export}",
         "--export_formats=saved_model,tflite,tflite_int8,onnx",
         "--pictures=0")
  reports = {"Keras": _report(wd, None)}
  for column, name in FILES:
    reports[column] = _report(wd, os.path.join(export, name))
  return reports


def _report(wd, model_file):
  split = json.load(open(os.path.join(wd, "config.json")))["eval_split"]
  suffix = "" if model_file is None else "_" + os.path.basename(
      model_file).replace(".", "_")
  path = os.path.join(wd, f"results_{split}{suffix}.json")
  if not os.path.exists(path):
    _run("eval.py", f"--workdir={wd}", "--pictures=0",
         *([f"--model_file={model_file}"] if model_file else []))
  with open(path) as f:
    return json.load(f)


def _mean_std(values):
  m = statistics.mean(values)
  s = statistics.stdev(values) if len(values) > 1 else 0.0
  return m, s


def table(per_seed) -> str:
  """The markdown table of `per_seed` [{column: report}]."""
  columns = ["Keras"] + [c for c, _ in FILES]
  first = per_seed[0]["Keras"]["headline"]
  lines = [f"| task | metric | Keras (mean ± std) | " +
           " | ".join(f"{c} − Keras" for c in columns[1:]) + " |",
           "|---|---|---:|" + "---:|" * (len(columns) - 1)]
  n = len(per_seed)
  for task, metrics in first.items():
    for metric in metrics:
      keras = [r["Keras"]["headline"][task][metric] for r in per_seed]
      m, s = _mean_std(keras)
      cells = [f"{m:.4g} ± {s:.2g}"]
      for column in columns[1:]:
        diffs = [r[column]["headline"][task][metric] - k
                 for r, k in zip(per_seed, keras)]
        dm, ds = _mean_std(diffs)
        if max(abs(d) for d in diffs) <= 1e-5 * max(abs(m), 1e-6):
          cells.append("0 (float rounding)")  # float32 reordering, ≤ 1e-5
          continue
        none = abs(dm) <= 2 * ds / n ** 0.5
        cells.append(f"{dm:+.2g} ± {ds:.1g}" + (" (none)" if none else ""))
      lines.append(f"| {task} | {metric} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main(argv):
  del argv
  per_seed = []
  for seed in _SEEDS.value:
    per_seed.append(one_seed(seed))
    print(f"seed {seed} done", flush=True)
  print(f"\n{_WHAT.value}: {CONFIGS[_WHAT.value]}, seeds "
        f"{','.join(_SEEDS.value)}\n")
  print(table(per_seed))


if __name__ == "__main__":
  app.run(main)
