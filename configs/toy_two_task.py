r"""Seed 003's two correlated regression tasks on a hard-sharing MLP.

Run:
  python train.py --config=configs/toy_two_task.py --workdir=runs/toy
  python train.py --config=configs/toy_two_task.py:runlocal --workdir=/tmp/t
  python train.py --config=configs/toy_two_task.py --config.method=gradnorm \
      --workdir=runs/toy_gradnorm

`arg` is a comma-separated list: `runlocal` shrinks the run for a quick check.
"""

import ml_collections


def get_config(arg: str = ""):
  args = set(filter(None, (arg or "").split(",")))
  c = ml_collections.ConfigDict()
  c.seed = 0
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
  c.method = "fixed"
  # Per-method keyword arguments, keyed by method name.
  c.method_kwargs = ml_collections.ConfigDict(dict(
      gradnorm=dict(alpha=0.16, lr=1e-3)))
  c.optimizer = ml_collections.ConfigDict(dict(name="adam",
                                               learning_rate=1e-3))
  c.batch_size = 100  # global, split over replicas
  c.steps = 4000  # 50 epochs of 8000 examples, as the seed
  c.clip_global_norm = 0.0  # 0 disables
  c.clip_by_value = ml_collections.ConfigDict()  # {regex on var path: c}
  c.per_sample_mode = "independent"
  c.strategy = "default"
  c.num_devices = 0  # mirrored: 0 = all local GPUs, or N logical CPUs
  c.jit_compile = False
  c.steps_per_loop = 1
  c.deterministic = False
  c.log_every = 200
  c.checkpoint_every = 1000
  c.keep_checkpoints = 3
  c.eval_split = "test"
  c.eval_batch_size = 500
  if "runlocal" in args:
    c.steps = 200
    c.log_every = 50
    c.checkpoint_every = 100
  return c
