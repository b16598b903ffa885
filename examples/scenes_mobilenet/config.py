r"""Bring your own model and data through the CLI.

  python train.py --config=examples/scenes_mobilenet/config.py \
      --workdir=runs/mobilenet --config.method=pcgrad

`model.name` and `data.name` are `module:function` of the user's code (run
from the repository root, which is on the import path). `:runlocal` shrinks
it to a CPU check.
"""

import ml_collections

from configs import common


def get_config(arg: str = ""):
  args = common.parse_args(arg)
  c = common.base_config()
  c.data = ml_collections.ConfigDict(dict(
      name="examples.scenes_mobilenet.data:rgb_scenes",
      kwargs=dict(num=240, height=64, width=128)))
  c.model = ml_collections.ConfigDict(dict(
      name="examples.scenes_mobilenet.model:build",
      kwargs=dict(height=64, width=128)))
  c.tasks = ml_collections.ConfigDict(dict(
      depth=dict(loss="masked_l1"),
      semantic=dict(loss="sparse_ce"),
      motion=dict(loss="sparse_ce")))
  c.method = "pcgrad"
  c.batch_size = 8
  c.steps = 600
  c.log_every = 50
  c.checkpoint_every = 200
  c.eval_batch_size = 8
  if "runlocal" in args:
    c.data.kwargs.num = 40
    c.steps = 4
    c.log_every = 2
    c.checkpoint_every = 4
  return c
