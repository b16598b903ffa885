r"""Runs the comparison behind RESULTS.md: train + eval every row, then table.

  python tools/results.py --what=dense --seeds=0,1 --steps=400 \
      --out_dir=runs/results
  python tools/results.py --what=vo --seeds=0,1,2,3,4 --steps=3000 \
      --out_dir=runs/results_vo
  python tools/results.py --what=multi_mnist --seeds=0,1,2,3,4 --steps=500
  python tools/results.py --what=partial --seeds=0,1,2,3,4 --steps=200
  python tools/results.py --what=qm9 --seeds=0,1,2 --steps=200 \
      --out_dir=runs/results_qm9

dense: the dual-encoder network on procedural scenes (configs/demo.py):
single-task baselines, then equal weights, uncertainty, DWA, GradNorm,
pseudo-GradNorm, PCGrad and MGDA, Δm% against the single-task runs.
multi_mnist: MultiLeNet on MultiMNIST (configs/multi_mnist.py): left-only
and right-only baselines, then equal weights, uncertainty, DWA, PCGrad,
MGDA, CAGrad, Nash-MTL, UPGrad, FAMO and IMTL, Δm% against the single-task
runs; --png writes the chart.
partial: depth labelled on 25% of the train scenes (configs/demo.py:small,
64×128, width 0.25): single-task depth on those labels (on every image,
and on the labelled images alone), then
each method on every image with depth weighted 0 where unlabelled
(`<method>_partial`) and on the labelled images alone (`<method>_drop`).
qm9: the MPNN on 2,000 QM9 molecules (configs/qm9.py:reduced): the 11
single-target baselines, then equal weights, uncertainty, DWA, PCGrad,
MGDA, CAGrad, Nash-MTL, FAMO, IMTL and UPGrad; each target's MAE in its
units, Δm% over the 11 MAEs against the single-task runs. The model's
initialiser seed follows the run's seed. Runs in this process by default
(--in_process): TensorFlow's start-up and eval.py's second one are paid
once, not per run.
vo: the pose + flow network on procedural drives (configs/vo_prf.py:scenes,
shrunk to 64×160, width 0.5, batch 8): trans + rot alone (`main_only`),
ATG, PRF as published and `prf_gate` (PRF with variance="mean",
granularity="layer", gate_ema=0.9).
Each run is `train.py` then `eval.py` in a subprocess; finished runs
(results file present) are not repeated, so the script can be resumed.
"""

import contextlib
import io
import os
import subprocess
import sys
import time

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tfmtl import quiet  # noqa: E402
quiet.import_tensorflow()  # TensorFlow's start-up noise filtered out

from tools import compare  # noqa: E402
from tfmtl import cli, methods  # noqa: E402
from tfmtl.errors import UserError  # noqa: E402
from tfmtl.data.qm9 import TASKS as QM9_TASKS, UNITS as QM9_UNITS  # noqa: E402

_WHAT = flags.DEFINE_enum("what", "dense",
                          ["dense", "vo", "multi_mnist", "partial", "qm9"],
                          "Which table.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1"], "Seeds of every row.")
_STEPS = flags.DEFINE_integer("steps", 400, "Train steps of every run.",
                              lower_bound=1)
_OUT = flags.DEFINE_string("out_dir", "runs/results", "Workdirs go here.")
_METHODS = flags.DEFINE_list(
    "methods", None, "Multi-task methods of the table (default: METHODS).")
_TABLE_ONLY = flags.DEFINE_bool(
    "table_only", False, "Train nothing: make the table from the runs that "
    "have finished (results file present), leaving the others out.")
_IN_PROCESS = flags.DEFINE_bool(
    "in_process", None, "Train and evaluate every run in this process "
    "rather than in train.py / eval.py subprocesses (default: on for qm9).")

METHODS = {
    "dense": ["fixed", "uncertainty", "dwa", "gradnorm", "pseudo_gradnorm",
              "pcgrad", "mgda", "mgda_ub", "aligned_mtl", "aligned_mtl_ub"],
    "multi_mnist": ["fixed", "uncertainty", "dwa", "pcgrad", "mgda", "cagrad",
                    "nash_mtl", "upgrad", "famo", "imtl_hybrid"],
    "partial": ["fixed", "uncertainty", "pcgrad", "mgda"],
    "qm9": ["fixed", "uncertainty", "dwa", "pcgrad", "mgda", "cagrad",
            "nash_mtl", "famo", "imtl_hybrid", "upgrad"],
}
PARTIAL = "configs/demo.py:small,depth_labels=0.25"
# (config, its argument, tasks of its single-task baselines) of the method
# tables.
TABLES = {
    "dense": ("configs/demo.py", "table", ("depth", "semantic", "motion")),
    "multi_mnist": ("configs/multi_mnist.py", "", ("left", "right")),
    "qm9": ("configs/qm9.py", "reduced", QM9_TASKS),
}
# The VO rows: config and its flags. main_only has no flow task (does the
# auxiliary task help at all?); prf_gate is PRF with the statistics
# that won the controlled auxiliary benchmark (RESULTS.md, "Auxiliary
# tasks"): the batch-mean gradient's variance v/B (B = the batch of 8),
# compared per shared layer, the gate smoothed over steps.
VO_METHODS = {
    "main_only": ("configs/vo_prf.py:scenes,main_only", []),
    "atg": ("configs/vo_atg.py:scenes", []),
    "prf": ("configs/vo_prf.py:scenes", []),
    "prf_gate": ("configs/vo_prf.py:scenes", [
        "--config.method_kwargs.prf.variance=mean",
        "--config.method_kwargs.prf.batch_size=8",
        "--config.method_kwargs.prf.granularity=layer",
        "--config.method_kwargs.prf.gate_ema=0.9"]),
}
VO = ["--config.data.kwargs.num=2200", "--config.data.kwargs.height=64",
      "--config.data.kwargs.width=160", "--config.model.kwargs.width=0.5",
      "--config.batch_size=8"]


def runs():
  """(name, config, extra flags) of every run of the chosen table."""
  out = []
  for seed in _SEEDS.value:
    common = [f"--config.seed={seed}", f"--config.steps={_STEPS.value}",
              f"--config.checkpoint_every={_STEPS.value}"]
    if _WHAT.value == "qm9":
      common.append(f"--config.model.kwargs.seed={seed}")
    if _WHAT.value == "partial":
      out.append((f"single_depth25_s{seed}", f"{PARTIAL},only=depth", common))
      out.append((f"single_depth25_drop_s{seed}", f"{PARTIAL},drop,only=depth",
                  common))
      for m in _METHODS.value or METHODS["partial"]:
        method = common + [f"--config.method={m}"]
        out.append((f"{m}_partial_s{seed}", PARTIAL, method))
        out.append((f"{m}_drop_s{seed}", f"{PARTIAL},drop", method))
    elif _WHAT.value in TABLES:
      config, arg, tasks = TABLES[_WHAT.value]
      for task in tasks:
        out.append((f"single_{task}_s{seed}",
                    f"{config}:{','.join(filter(None, [arg, 'only=' + task]))}",
                    common))
      for m in _METHODS.value or METHODS[_WHAT.value]:
        out.append((f"{m}_s{seed}", f"{config}:{arg}" if arg else config,
                    common + [f"--config.method={m}"]))
    else:
      for m in _METHODS.value or VO_METHODS:
        if m not in VO_METHODS:
          raise UserError(f"--what=vo runs {sorted(VO_METHODS)}, not {m!r}")
        config, flags_ = VO_METHODS[m]
        out.append((f"vo_{m}_s{seed}", config, common + VO + flags_))
  return out


def load_config(spec, overrides):
  """The ConfigDict of "path.py[:arg]" with "--config.a.b=value" overrides
  (typed as the value they replace), as train.py would build it."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  path, _, arg = spec.partition(":")
  module_spec = importlib.util.spec_from_file_location(
      "results_config", os.path.join(ROOT, path))
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  config = module.get_config(arg)
  for item in overrides:
    key, _, text = item[len("--config."):].partition("=")
    *parents, leaf = key.split(".")
    node = config
    for p in parents:
      node = node[p]
    old = node[leaf]
    node[leaf] = (text if isinstance(old, str) else
                  text.lower() in ("1", "true") if isinstance(old, bool) else
                  type(old)(text) if old is not None else text)
  return config


def run_in_process(config_spec, workdir, extra):
  """train.py then eval.py (--pictures=0) of one run, in this process."""
  import keras  # pylint: disable=g-import-not-at-top
  import train as train_lib  # pylint: disable=g-import-not-at-top
  from tfmtl import evaluation  # pylint: disable=g-import-not-at-top
  t = time.time()
  config = load_config(config_spec, extra)
  with contextlib.redirect_stdout(io.StringIO()):  # train.py's progress
    train_lib.train(config, workdir)
    evaluation.evaluate_run(config, workdir, "test")
  keras.backend.clear_session()
  return time.time() - t


def qm9_reports(reports):
  """Reports whose headline (and Δm%) is each target's MAE in its units:
  the benchmark's metric (Nash-MTL, FAMO). Normalised MAE and MAE in units
  differ by the train split's std, the same in every run, so Δm% is the
  same either way; the table shows units."""
  out = []
  for r in reports:
    mae = {t: {"mae": m["mae_units"]} for t, m in r["metrics"].items()}
    out.append(dict(r, headline=mae, metrics=mae))
  return out


def qm9_columns(names, rows):
  """"mu mae" -> "mu (D)": the column of a target names its unit. No GMACs
  column: the cost counter sees the MPNN's Dense layers, not its einsums
  (message passing, Set2Set), so its count would mislead."""
  rename = {f"{t} mae": f"{t} ({QM9_UNITS[t]})" for t in QM9_TASKS}
  return ([rename.get(n, n) for n in names if n != "GMACs"],
          [(name, {rename.get(k, k): v for k, v in cells.items()}, seeds)
           for name, cells, seeds in rows])


def run(cmd):
  t = time.time()
  proc = subprocess.run([sys.executable] + cmd, cwd=ROOT, text=True,
                        capture_output=True)
  if proc.returncode:
    errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
    if errors and "Traceback" not in proc.stderr:  # the run's own line
      raise UserError(f"{' '.join(cmd[:1] + cmd[2:3])} failed: "
                      f"{errors[-1][len('error: '):]}")
    sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
  return time.time() - t


def check_flags():
  """What every run needs, checked before the first one trains."""
  for seed in _SEEDS.value:
    if not seed.isdigit():
      raise UserError(f"--seeds: {seed!r} is not a seed (a whole number "
                      ">= 0)")
  for m in _METHODS.value or ():
    if _WHAT.value != "vo":  # (vo's rows are checked by `runs`)
      methods.factory(m)
  cli.output_path("png", compare._PNG.value)
  if not _TABLE_ONLY.value:
    try:
      os.makedirs(_OUT.value, exist_ok=True)
    except OSError as e:
      raise UserError(f"--out_dir={_OUT.value!r}: cannot create it "
                      f"({e.strerror})") from None


def main(argv):
  del argv
  try:
    check_flags()
    _main()
  except UserError as e:
    cli.report(e)
    sys.exit(2)


def _main():
  workdirs = []
  todo = runs()
  for i, (name, config, extra) in enumerate(todo):
    wd = os.path.join(_OUT.value, name)
    workdirs.append(wd)
    if os.path.exists(os.path.join(wd, "results_test.json")):
      continue
    if _TABLE_ONLY.value:
      workdirs.pop()
      continue
    in_process = (_IN_PROCESS.value if _IN_PROCESS.value is not None
                  else _WHAT.value == "qm9")
    if in_process:
      t = run_in_process(config, wd, extra)
    else:
      t = run(["train.py", f"--config={config}", f"--workdir={wd}"] + extra)
      t += run(["eval.py", f"--config={config}", f"--workdir={wd}",
                "--pictures=0"] + extra)
    print(f"[{i + 1}/{len(todo)}] {name}: {t:.0f} s", flush=True)
  if not workdirs:
    raise UserError(f"no finished runs in {_OUT.value!r} (none has "
                    "results_test.json); run without --table_only first")
  reports = [compare.load(w, "test") for w in workdirs]
  if _WHAT.value == "qm9":
    names, rows = qm9_columns(*compare.table(qm9_reports(reports)))
  else:
    names, rows = compare.table(reports)
  print(compare.markdown(names, rows))
  if compare._PNG.value:  # --png, defined by tools/compare.py
    compare.chart(names, rows, compare._PNG.value)


if __name__ == "__main__":
  app.run(main, flags_parser=cli.parse_flags)
