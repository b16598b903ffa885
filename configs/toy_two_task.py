r"""Seed 003's two correlated regression tasks on a hard-sharing MLP.

Run:
  python train.py --config=configs/toy_two_task.py --workdir=runs/toy
  python train.py --config=configs/toy_two_task.py:runlocal --workdir=/tmp/t
  python train.py --config=configs/toy_two_task.py --config.method=gradnorm \
      --workdir=runs/toy_gradnorm

`arg` is a comma-separated list: `runlocal` shrinks the run for a quick check.
"""

import ml_collections

from configs import common


def get_config(arg: str = ""):
  args = common.parse_args(arg)
  c = common.base_config()
  c.data = ml_collections.ConfigDict(dict(
      name="correlated_regression",
      kwargs=dict(n=10000, m=100, c=0.5, p=0.9, seed=42)))
  c.model = ml_collections.ConfigDict(dict(
      name="hard_sharing",
      kwargs=dict(output_dim=1, trunk_units=[64], tower_units=[32, 16],
                  dropout=0.5)))
  c.tasks = ml_collections.ConfigDict(dict(
      y1=dict(loss="mse", weight=1.0, role="main"),
      y2=dict(loss="mse", weight=1.0, role="main")))
  # seed 003's GradNorm: α = 0.16, the weights' Adam at 1e-3.
  c.method_kwargs = ml_collections.ConfigDict(dict(
      gradnorm=dict(alpha=0.16, lr=1e-3), dwa=dict(steps_per_epoch=80)))
  c.batch_size = 100
  c.steps = 4000  # 50 epochs of 8000 examples, as the seed
  c.log_every = 200
  c.checkpoint_every = 1000
  c.eval_batch_size = 500
  if "runlocal" in args:
    c.steps = 200
    c.log_every = 50
    c.checkpoint_every = 100
  return c
