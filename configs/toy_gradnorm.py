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


def parse(arg: str) -> dict:
  out = {}
  for item in filter(None, (arg or "").split(",")):
    key, _, value = item.partition("=")
    out[key] = value or True
  return out


def sigmas_for(args: dict):
  if "sigmas" in args:
    return [float(s) for s in args["sigmas"].split("/")]
  t = int(args.get("T", 2))
  return [1.0, 100.0] if t == 2 else list(np.geomspace(1.0, 100.0, t))


def get_config(arg: str = ""):
  args = parse(arg)
  sigmas = sigmas_for(args)
  c = ml_collections.ConfigDict()
  c.seed = 0
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
      gradnorm=dict(alpha=0.12, lr=0.025)))
  c.optimizer = ml_collections.ConfigDict(dict(name="adam",
                                               learning_rate=1e-3))
  c.batch_size = 100
  c.steps = 3000
  c.clip_global_norm = 0.0
  c.clip_by_value = ml_collections.ConfigDict()
  c.per_sample_mode = "independent"
  c.strategy = "default"
  c.num_devices = 0
  c.jit_compile = False
  c.steps_per_loop = 1
  c.deterministic = False
  c.log_every = 250
  c.checkpoint_every = 1000
  c.keep_checkpoints = 3
  c.eval_split = "test"
  c.eval_batch_size = 500
  if "runlocal" in args:
    c.steps = 300
    c.log_every = 50
    c.checkpoint_every = 150
  return c
