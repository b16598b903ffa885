r"""Trajectories of balancing methods on the 2-D toy of CAGrad / Nash-MTL.

  python tools/toy2d.py --methods=sum,mgda,pcgrad,cagrad,nash_mtl,upgrad \
      --iterations=35000 --png=docs/toy2d.png

Runs every method from the five starts (`tfmtl.toy2d.STARTS`, Adam 1e-3 as
the papers) and draws, for each method, the trajectories in parameter space
(over the contours of L₁ + L₂, the Pareto set as a line) and in loss space
(the Pareto front as a line). Prints where each start ended and whether it
reached the Pareto set. A method's arguments: --kwargs=nash_mtl:max_norm=0.
"""

import os
import sys
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tfmtl import quiet  # noqa: E402
quiet.import_tensorflow()  # TensorFlow's start-up noise filtered out

from tfmtl import toy2d  # noqa: E402
from tfmtl.errors import UserError  # noqa: E402

_METHODS = flags.DEFINE_list(
    "methods", ["sum", "mgda", "pcgrad", "cagrad", "nash_mtl", "upgrad"],
    "Registered methods to run.")
_ITERATIONS = flags.DEFINE_integer("iterations", 35000, "Adam steps a start.")
_LR = flags.DEFINE_float("lr", 1e-3, "Adam learning rate.")
_EVERY = flags.DEFINE_integer("every", 50, "Keep every k-th point.")
_KWARGS = flags.DEFINE_multi_string(
    "kwargs", [], "method:key=value,... constructor arguments of a method "
    "(values parsed as Python literals).")
_PNG = flags.DEFINE_string("png", None, "Write the figure here.")
_XLA = flags.DEFINE_bool("jit_compile", True, "Compile each loop with XLA.")

TOL = 0.1  # |x₂ − PARETO_X2| and x₁ ∈ [−7 − TOL, 7 + TOL] count as reached
# (Adam at lr 1e-3 jitters by ~0.05 across the cliff at the Pareto set)


def parse_kwargs(specs):
  """['m:a=1,b=x'] -> {'m': {'a': 1, 'b': 'x'}}."""
  import ast  # pylint: disable=import-outside-toplevel
  out = {}
  for spec in specs:
    if ":" not in spec:
      raise UserError(f"--kwargs={spec!r}: write method:key=value,...")
    name, rest = spec.split(":", 1)
    for item in filter(None, rest.split(",")):
      key, _, value = item.partition("=")
      try:
        value = ast.literal_eval(value)
      except (ValueError, SyntaxError):
        pass
      out.setdefault(name, {})[key] = value
  return out


def reached(x):
  """Whether the end points [S, 2] lie on the Pareto set."""
  return ((np.abs(x[:, 1] - toy2d.PARETO_X2) < TOL) &
          (np.abs(x[:, 0]) <= 7.0 + TOL))


def draw(results, path):
  """Two rows of panels: parameter space above, loss space below."""
  from matplotlib.backends.backend_agg import FigureCanvasAgg  # pylint: disable=import-outside-toplevel
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  n = len(results)
  fig = Figure(figsize=(3.2 * n, 6.4))
  FigureCanvasAgg(fig)
  g = np.linspace(-10.0, 10.0, 200, dtype=np.float32)
  grid = np.stack(np.meshgrid(g, g), -1)
  surface = toy2d.losses(tf.constant(grid)).numpy().sum(-1)
  front = toy2d.pareto_front()
  colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
  for j, (name, res) in enumerate(results.items()):
    top = fig.add_subplot(2, n, j + 1)
    top.contourf(g, g, surface, levels=30, cmap="Greys", alpha=0.5)
    top.plot([-7, 7], [toy2d.PARETO_X2] * 2, color="k", lw=2)
    bottom = fig.add_subplot(2, n, n + j + 1)
    bottom.plot(front[:, 0], front[:, 1], color="k", lw=2)
    for s in range(res["x"].shape[0]):
      c = colors[s % len(colors)]
      top.plot(res["x"][s, :, 0], res["x"][s, :, 1], color=c, lw=1.2)
      top.scatter(*res["x"][s, 0], color=c, s=12)
      top.scatter(*res["x"][s, -1], color=c, marker="*", s=40, zorder=3)
      bottom.plot(res["losses"][s, :, 0], res["losses"][s, :, 1], color=c,
                  lw=1.2)
      bottom.scatter(*res["losses"][s, -1], color=c, marker="*", s=40,
                     zorder=3)
    top.set_title(f"{name}: {int(reached(res['x'][:, -1]).sum())}/5 reach")
    top.set_xlim(-10, 10)
    top.set_ylim(-10, 10)
    top.set_xlabel("x₁")
    bottom.set_xlabel("L₁")
    if j == 0:
      top.set_ylabel("x₂")
      bottom.set_ylabel("L₂")
  fig.tight_layout()
  fig.savefig(path, dpi=90)


def main(argv):
  del argv
  try:
    kwargs = parse_kwargs(_KWARGS.value)
    results = {}
    for name in _METHODS.value:
      start = time.perf_counter()
      res = toy2d.run(name, iterations=_ITERATIONS.value, lr=_LR.value,
                      every=_EVERY.value, jit_compile=_XLA.value,
                      **kwargs.get(name, {}))
      label = name + "".join(f" {k}={v}" for k, v in
                             kwargs.get(name, {}).items())
      results[label] = res
      ends = res["x"][:, -1]
      print(f"{label}: {time.perf_counter() - start:.1f} s, "
            f"{int(reached(ends).sum())}/5 reach the Pareto set; ends "
            + " ".join(f"({a:.2f}, {b:.2f})" for a, b in ends), flush=True)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  if _PNG.value:
    draw(results, _PNG.value)
    print("wrote", _PNG.value)


if __name__ == "__main__":
  app.run(main)
