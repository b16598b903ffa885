r"""Seed 001's dual-encoder network on CityScapes: depth, semantic, motion.

RGB frame + Farneback flow with confidence in, depth (1), 5-class semantic
and binary motion out; the seed trains at 384×768 with equal weights,
GradNorm (`--config.method=pseudo_gradnorm`) or uncertainty.
  python train.py --config=configs/cityscapes_dual_encoder.py \
      --config.data.kwargs.root=/data/cityscapes --workdir=runs/dual
  python train.py --config=configs/cityscapes_dual_encoder.py:runlocal \
      --workdir=/tmp/dual
`runlocal` trains a width-0.25 network for a few steps on the procedural
`scenes` source at 64×128.
"""

import ml_collections

from configs import common


def get_config(arg: str = ""):
  args = set(filter(None, (arg or "").split(",")))
  c = common.base_config()
  c.data = ml_collections.ConfigDict(dict(
      name="cityscapes",
      kwargs=dict(root="~/data/cityscapes", scheme="5",
                  tasks=["depth", "semantic", "motion"], with_flow=True,
                  height=384, width=768)))
  c.model = ml_collections.ConfigDict(dict(
      name="dual_encoder",
      kwargs=dict(width=1.0, output_channels={"depth": 1, "semantic": 5,
                                              "motion": 2})))
  c.tasks = ml_collections.ConfigDict(dict(
      depth=dict(loss="masked_l1", weight=1.0, role="main"),
      semantic=dict(loss="sparse_ce", weight=1.0, role="main"),
      motion=dict(loss="sparse_ce", weight=1.0, role="main")))
  # Seed 001's ARD is measured within 3-80 m; motion is its two-class
  # static / moving segmentation, scored by mIoU alone.
  c.eval_depth_range = (3.0, 80.0)
  c.eval_metrics = ml_collections.ConfigDict(dict(motion="motion"))
  c.method_kwargs = ml_collections.ConfigDict(dict(
      gradnorm=dict(alpha=1.5, lr=0.025),
      dwa=dict(steps_per_epoch=2975 // 16)))
  c.batch_size = 16
  c.steps = 60000
  c.log_every = 200
  c.checkpoint_every = 5000
  c.keep_checkpoints = 3
  c.eval_split = "val"
  c.eval_batch_size = 8
  if "runlocal" in args:
    c.data = ml_collections.ConfigDict(dict(
        name="scenes", kwargs=dict(height=64, width=128, num=64)))
    c.model.kwargs.width = 0.25
    c.batch_size = 4
    c.steps = 20
    c.log_every = 5
    c.checkpoint_every = 10
    c.eval_batch_size = 4
    c.method_kwargs.dwa.steps_per_epoch = 10
  return c
