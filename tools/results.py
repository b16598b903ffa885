r"""Runs the comparison behind RESULTS.md: train + eval every row, then table.

  python tools/results.py --what=dense --seeds=0,1 --steps=400 \
      --out_dir=runs/results
  python tools/results.py --what=vo --seeds=0,1 --steps=300
  python tools/results.py --what=multi_mnist --seeds=0,1,2,3,4 --steps=500
  python tools/results.py --what=partial --seeds=0,1,2,3,4 --steps=200

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
vo: the pose + flow network on procedural drives (configs/vo_prf.py:scenes,
shrunk by --vo_* flags): ATG vs PRF.
Each run is `train.py` then `eval.py` in a subprocess; finished runs
(results file present) are not repeated, so the script can be resumed.
"""

import os
import subprocess
import sys
import time

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tools import compare  # noqa: E402

_WHAT = flags.DEFINE_enum("what", "dense",
                          ["dense", "vo", "multi_mnist", "partial"],
                          "Which table.")
_SEEDS = flags.DEFINE_list("seeds", ["0", "1"], "Seeds of every row.")
_STEPS = flags.DEFINE_integer("steps", 400, "Train steps of every run.")
_OUT = flags.DEFINE_string("out_dir", "runs/results", "Workdirs go here.")
_METHODS = flags.DEFINE_list(
    "methods", None, "Multi-task methods of the table (default: METHODS).")

METHODS = {
    "dense": ["fixed", "uncertainty", "dwa", "gradnorm", "pseudo_gradnorm",
              "pcgrad", "mgda", "mgda_ub", "aligned_mtl", "aligned_mtl_ub"],
    "multi_mnist": ["fixed", "uncertainty", "dwa", "pcgrad", "mgda", "cagrad",
                    "nash_mtl", "upgrad", "famo", "imtl_hybrid"],
    "partial": ["fixed", "uncertainty", "pcgrad", "mgda"],
}
PARTIAL = "configs/demo.py:small,depth_labels=0.25"
# (config, tasks of its single-task baselines) of the method tables.
TABLES = {
    "dense": ("configs/demo.py", ("depth", "semantic", "motion")),
    "multi_mnist": ("configs/multi_mnist.py", ("left", "right")),
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
    if _WHAT.value == "partial":
      out.append((f"single_depth25_s{seed}", f"{PARTIAL},only=depth", common))
      out.append((f"single_depth25_drop_s{seed}", f"{PARTIAL},drop,only=depth",
                  common))
      for m in _METHODS.value or METHODS["partial"]:
        method = common + [f"--config.method={m}"]
        out.append((f"{m}_partial_s{seed}", PARTIAL, method))
        out.append((f"{m}_drop_s{seed}", f"{PARTIAL},drop", method))
    elif _WHAT.value in TABLES:
      config, tasks = TABLES[_WHAT.value]
      for task in tasks:
        out.append((f"single_{task}_s{seed}", f"{config}:only={task}",
                    common))
      for m in _METHODS.value or METHODS[_WHAT.value]:
        out.append((f"{m}_s{seed}", config,
                    common + [f"--config.method={m}"]))
    else:
      for m in ("atg", "prf"):
        out.append((f"vo_{m}_s{seed}", f"configs/vo_{m}.py:scenes",
                    common + VO))
  return out


def run(cmd):
  t = time.time()
  proc = subprocess.run([sys.executable] + cmd, cwd=ROOT, text=True,
                        capture_output=True)
  if proc.returncode:
    sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
  return time.time() - t


def main(argv):
  del argv
  workdirs = []
  todo = runs()
  for i, (name, config, extra) in enumerate(todo):
    wd = os.path.join(_OUT.value, name)
    workdirs.append(wd)
    if os.path.exists(os.path.join(wd, "results_test.json")):
      continue
    t = run(["train.py", f"--config={config}", f"--workdir={wd}"] + extra)
    t += run(["eval.py", f"--config={config}", f"--workdir={wd}",
              "--pictures=0"] + extra)
    print(f"[{i + 1}/{len(todo)}] {name}: {t:.0f} s", flush=True)
  names, rows = compare.table([compare.load(w, "test") for w in workdirs])
  print(compare.markdown(names, rows))
  if compare._PNG.value:  # --png, defined by tools/compare.py
    compare.chart(names, rows, compare._PNG.value)


if __name__ == "__main__":
  app.run(main)
