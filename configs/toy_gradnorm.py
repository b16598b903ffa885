r"""The GradNorm paper's toy (Chen et al. 2018, §4): f_t = σ_t tanh((B+ε_t)x).

Run (arguments are comma-separated; T picks the task count, sigmas the
scales as `sigmas=1/100`; default T=2 with σ = (1, 100)):
  python train.py --config=configs/toy_gradnorm.py --workdir=runs/gn2
  python train.py --config=configs/toy_gradnorm.py:T=10 --workdir=runs/gn10
  python train.py --config=configs/toy_gradnorm.py:T=2,runlocal \
      --config.method=fixed --workdir=/tmp/gn_fixed

With T tasks and no explicit sigmas, σ_t is spread geometrically over
[1, 100] (the paper's T = 10 run draws σ_i from a wide range; a fixed
spread makes runs comparable).
"""

import ml_collections
import numpy as np

from configs import common


def sigmas_for(args: dict):
  if "sigmas" in args:
    return [float(s) for s in args["sigmas"].split("/")]
  t = int(args.get("T", 2))
  return [1.0, 100.0] if t == 2 else [float(s) for s in
                                      np.geomspace(1.0, 100.0, t)]


def get_config(arg: str = ""):
  args = common.parse_args(arg)
  sigmas = sigmas_for(args)
  c = common.base_config()
  c.data = ml_collections.ConfigDict(dict(
      name="gradnorm_toy", kwargs=dict(sigmas=sigmas, n=10000, seed=0)))
  c.model = ml_collections.ConfigDict(dict(
      name="hard_sharing",
      kwargs=dict(output_dim=100, trunk_units=[100] * 4, tower_units=[],
                  dropout=0.0)))
  c.tasks = ml_collections.ConfigDict(
      {f"t{t:02d}": dict(loss="mse", weight=1.0, role="main")
       for t in range(len(sigmas))})
  c.method = "gradnorm"
  # α = 0.12 is the value the paper uses on this toy.
  c.method_kwargs = ml_collections.ConfigDict(dict(
      gradnorm=dict(alpha=0.12, lr=0.025), dwa=dict(steps_per_epoch=80)))
  c.batch_size = 100
  c.steps = 3000
  c.log_every = 250
  c.checkpoint_every = 1000
  c.eval_batch_size = 500
  if "runlocal" in args:
    c.steps = 300
    c.log_every = 50
    c.checkpoint_every = 150
  return c
