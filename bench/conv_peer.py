r"""Step time on a conv hard-sharing net: tfmtl (no XLA, XLA, "auto") against
LibMTL, method by method.

The net (the same in Keras and PyTorch, 1.47 M parameters): a shared
encoder of five 3×3 conv + BN + ReLU blocks (32, 64, 128, 256, 256 channels;
strides 1, 2, 2, 2, 1) on 64×64×3 images, and per task a head 3×3 conv 256→64
+ ReLU, 1×1 conv to the task's channels, bilinear ×8 back to 64×64. Tasks:
semantic (7 classes, per-pixel cross-entropy), depth (1 channel, L1),
normal (3 channels, L1). Batch 16, Adam 1e-4, T = 3.

Each (framework, method, form) runs in a process of its own: build, 3
warm-up steps (the first traces / compiles), then the median of
`--steps` steps; the cases run in alternating rounds and the table gives
the median over rounds (the machine is shared: read the ratios of one run,
never the absolute times). Both sides use 2 threads.

LibMTL runs in a separate environment (its code is not ours and is not
installed by the project):

  python -m venv /tmp/peer && /tmp/peer/bin/pip install torch==2.13.0 scipy \
      && /tmp/peer/bin/pip install --no-deps LibMTL==1.1.5
  python bench/conv_peer.py --peer_python=/tmp/peer/bin/python

LibMTL 1.1.5 imports `torchvision.models.utils`, gone from torchvision;
the child stubs that one import (LibMTL uses it only to download ResNet
weights, which this net doesn't). Its gradient methods also need the
shared grads zeroed in place, not set to None as torch 2's
`Module.zero_grad` now does; the child patches `zero_grad_share_params`. Without `--peer_python` only the tfmtl
forms run.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

METHODS = ("fixed", "uncertainty", "pcgrad", "mgda", "imtl", "cagrad")
LIBMTL = {"fixed": ("EW", {}), "uncertainty": ("UW", {}),
          "pcgrad": ("PCGrad", {}), "mgda": ("MGDA", {"mgda_gn": "none"}),
          "imtl": ("IMTL", {}),
          "cagrad": ("CAGrad", {"calpha": 0.5, "rescale": 1})}
TASKS = {"semantic": 7, "depth": 1, "normal": 3}
ENCODER = ((32, 1), (64, 2), (128, 2), (256, 2), (256, 1))
SIZE, BATCH, HEAD = 64, 16, 64


def _data(seed=0):
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  x = rng.uniform(size=(BATCH, SIZE, SIZE, 3)).astype(np.float32)
  y = {"semantic": rng.integers(0, 7, (BATCH, SIZE, SIZE)).astype(np.int32),
       "depth": rng.uniform(size=(BATCH, SIZE, SIZE, 1)).astype(np.float32),
       "normal": rng.normal(size=(BATCH, SIZE, SIZE, 3)).astype(np.float32)}
  return x, y


def _timed(run, start, warmups, steps):
  """(seconds from `start` to the end of the first step, median step
  after `warmups` more)."""
  run()
  first = time.perf_counter() - start
  for _ in range(warmups):
    run()
  times = []
  for _ in range(steps):
    t0 = time.perf_counter()
    run()
    times.append(time.perf_counter() - t0)
  return first, statistics.median(times)


def tfmtl_child(method: str, form: str, steps: int) -> dict:
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfmtl import methods  # pylint: disable=g-import-not-at-top
  from tfmtl.engine import make_train_step  # pylint: disable=g-import-not-at-top
  from tfmtl.tasks import Task  # pylint: disable=g-import-not-at-top
  x_np, y_np = _data()
  start = time.perf_counter()
  inp = keras.Input((SIZE, SIZE, 3))
  h = inp
  for channels, stride in ENCODER:
    h = keras.layers.Conv2D(channels, 3, stride, padding="same")(h)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
  out = {}
  for name, channels in TASKS.items():
    z = keras.layers.Conv2D(HEAD, 3, padding="same", activation="relu")(h)
    z = keras.layers.Conv2D(channels, 1)(z)
    out[name] = keras.layers.UpSampling2D(8, interpolation="bilinear",
                                          name=name)(z)
  model = keras.Model(inp, out)
  tasks = [Task("semantic", "sparse_ce"), Task("depth", "l1"),
           Task("normal", "l1")]
  step = make_train_step(
      model, tasks, methods.get(method), keras.optimizers.Adam(1e-4),
      jit_compile={"plain": False, "xla": True, "auto": "auto"}[form])
  x = tf.constant(x_np)
  y = {k: tf.constant(v) for k, v in y_np.items()}
  run = lambda: step((x, y))["total_loss"].numpy()  # noqa: E731
  # "auto" decides on its first steps: warm up past them.
  first, step_s = _timed(run, start, 2 if form != "auto" else 10, steps)
  chose = step.chooser.message if step.chooser is not None else None
  return {"params": model.count_params(), "first_s": first,
          "step_s": step_s, "chose": chose}


def libmtl_child(method: str, steps: int) -> dict:
  # pylint: disable=g-import-not-at-top
  import types
  import numpy as np
  import torch
  from torch import nn
  torch.set_num_threads(2)
  utils = types.ModuleType("torchvision.models.utils")
  utils.load_state_dict_from_url = torch.hub.load_state_dict_from_url
  for name, module in (("torchvision", types.ModuleType("torchvision")),
                       ("torchvision.models",
                        types.ModuleType("torchvision.models")),
                       ("torchvision.models.utils", utils)):
    sys.modules.setdefault(name, module)
  from LibMTL import weighting as weighting_lib
  from LibMTL.architecture import HPS
  weighting_name, weight_args = LIBMTL[method]
  weighting = getattr(weighting_lib, weighting_name)

  class Encoder(nn.Module):

    def __init__(self):
      super().__init__()
      layers, c_in = [], 3
      for channels, stride in ENCODER:
        # Keras' "same" padding at stride 2 pads bottom/right; PyTorch's
        # padding=1 both sides: same cost, which is what is measured.
        layers += [nn.Conv2d(c_in, channels, 3, stride, 1),
                   nn.BatchNorm2d(channels), nn.ReLU()]
        c_in = channels
      self.net = nn.Sequential(*layers)

    def forward(self, x):
      return self.net(x)

  def head(channels):
    return nn.Sequential(nn.Conv2d(256, HEAD, 3, 1, 1), nn.ReLU(),
                         nn.Conv2d(HEAD, channels, 1),
                         nn.Upsample(scale_factor=8, mode="bilinear",
                                     align_corners=False))

  class Model(HPS, weighting):

    def __init__(self):
      super().__init__(list(TASKS), Encoder,
                       nn.ModuleDict({t: head(c) for t, c in TASKS.items()}),
                       False, False, torch.device("cpu"))
      self.init_param()

  x_np, y_np = _data()
  start = time.perf_counter()
  model = Model()
  model.epoch = 1  # DWA/GradNorm-style methods read it; none here do
  model.train()
  optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
  # LibMTL's gradient methods write `param.grad.data` after
  # `zero_grad_share_params()`, which on torch 2 sets the grads to None
  # (Module.zero_grad's new default): zero them in place instead.
  for param in model.parameters():
    param.grad = torch.zeros_like(param)

  def zero_share():
    for param in model.get_share_params():
      param.grad.zero_()
  model.zero_grad_share_params = zero_share
  x = torch.from_numpy(x_np).permute(0, 3, 1, 2).contiguous()
  sem = torch.from_numpy(y_np["semantic"]).long()
  depth = torch.from_numpy(y_np["depth"]).permute(0, 3, 1, 2).contiguous()
  normal = torch.from_numpy(y_np["normal"]).permute(0, 3, 1, 2).contiguous()
  ce = nn.CrossEntropyLoss()

  def run():
    preds = model(x)
    losses = torch.stack([ce(preds["semantic"], sem),
                          (preds["depth"] - depth).abs().mean(),
                          (preds["normal"] - normal).abs().mean()])
    optimizer.zero_grad(set_to_none=False)
    model.backward(losses, **weight_args)
    optimizer.step()
    return float(losses.detach().sum())

  first, step_s = _timed(run, start, 2, steps)
  return {"params": sum(int(np.prod(p.shape)) for p in model.parameters()),
          "first_s": first, "step_s": step_s, "chose": None}


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--methods", default=",".join(METHODS))
  p.add_argument("--forms", default="plain,xla,auto")
  p.add_argument("--rounds", type=int, default=3)
  p.add_argument("--steps", type=int, default=10)
  p.add_argument("--peer_python", default=None)
  p.add_argument("--child", default=None, help="framework:method[:form]")
  a = p.parse_args()
  if a.child:
    parts = a.child.split(":")
    out = (libmtl_child(parts[1], a.steps) if parts[0] == "libmtl"
           else tfmtl_child(parts[1], parts[2], a.steps))
    print(json.dumps(out), flush=True)
    return
  cases = []
  for m in a.methods.split(","):
    if a.peer_python:
      cases.append(("libmtl", m, "-"))
    cases += [("tfmtl", m, f) for f in a.forms.split(",")]
  results = {c: [] for c in cases}
  for r in range(a.rounds):
    for case in (cases if r % 2 == 0 else cases[::-1]):
      python = a.peer_python if case[0] == "libmtl" else sys.executable
      env = dict(os.environ, PYTHONPATH=os.path.dirname(
          os.path.dirname(os.path.abspath(__file__))))
      out = subprocess.run(
          [python, os.path.abspath(__file__), f"--steps={a.steps}",
           f"--child={':'.join(case)}"],
          capture_output=True, text=True, check=False, env=env)
      if out.returncode:
        print(f"{case} failed: {out.stderr[-800:]}", file=sys.stderr)
        continue
      row = json.loads(out.stdout.strip().splitlines()[-1])
      results[case].append(row)
      print(json.dumps({"case": case, **row}), flush=True)
  print()
  print("| method | LibMTL step ms | tfmtl no XLA | tfmtl XLA | tfmtl auto |"
        " auto / LibMTL | auto chose |")
  print("|---|---:|---:|---:|---:|---:|---|")
  for m in a.methods.split(","):
    med = {}
    chose = ""
    for case, rows in results.items():
      if case[1] == m and rows:
        med[case[0] if case[0] == "libmtl" else case[2]] = statistics.median(
            r["step_s"] for r in rows) * 1e3
        if case[2] == "auto":
          chose = "; ".join(sorted({("XLA" if "': XLA" in (r["chose"] or "")
                                     else "no XLA") for r in rows}))
    cell = lambda k: f"{med[k]:.0f}" if k in med else "–"  # noqa: E731
    ratio = (f"{med['auto'] / med['libmtl']:.2f}"
             if "auto" in med and "libmtl" in med else "–")
    print(f"| {m} | {cell('libmtl')} | {cell('plain')} | {cell('xla')} | "
          f"{cell('auto')} | {ratio} | {chose} |")


if __name__ == "__main__":
  main()
