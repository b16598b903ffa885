r"""NYUv2 3-task set-up (Liu et al., CVPR 2019): semantic + depth + normals.

MTAN's NYUv2: 13-class semantic (cross-entropy), depth (L1 over valid
pixels), surface normals (1 − cosine over valid pixels), on SegNet-MTAN,
Adam 1e-4, batch 2, 200 epochs of 795 images, DWA (temperature 2).
  python train.py --config=configs/nyuv2_mtan.py \
      --config.data.kwargs.root=/data/nyuv2 --workdir=runs/nyu_mtan
  python train.py --config=configs/nyuv2_mtan.py:runlocal --workdir=/tmp/n
  python eval.py --config=configs/nyuv2_mtan.py --workdir=runs/nyu_mtan

Arguments (comma-separated): `runlocal` trains a width-0.125 network for a
few steps on the embedded procedural scenes written in the NYUv2 .npy
layout (`scenes_nyuv2`, exact normals from the scene geometry); `segnet`
uses the SegNet split baseline instead of MTAN; `only=TASK` a single task.
"""

import ml_collections

from configs import common


def get_config(arg: str = ""):
  args = common.parse_args(arg)
  c = common.base_config()
  c.data = ml_collections.ConfigDict(dict(
      name="nyuv2_npy", kwargs=dict(root="~/data/nyuv2")))
  channels = {"semantic": 13, "depth": 1, "normal": 3}
  if "segnet" in args:
    model = dict(name="segnet", kwargs=dict(form="split", width=1.0))
  else:
    model = dict(name="mtan", kwargs=dict(width=1.0))
  model["kwargs"]["output_channels"] = channels
  c.model = ml_collections.ConfigDict(model)
  c.tasks = ml_collections.ConfigDict(dict(
      semantic=dict(loss="sparse_ce", weight=1.0, role="main"),
      depth=dict(loss="masked_l1", weight=1.0, role="main"),
      normal=dict(loss="normal", weight=1.0, role="main")))
  c.method = "dwa"
  c.method_kwargs = ml_collections.ConfigDict(dict(
      dwa=dict(temp=2.0, steps_per_epoch=795 // 2)))
  c.optimizer = ml_collections.ConfigDict(dict(name="adam",
                                               learning_rate=1e-4))
  c.batch_size = 2
  c.steps = 200 * 795 // 2
  c.log_every = 200
  c.checkpoint_every = 5000
  c.eval_split = "test"
  c.eval_batch_size = 2
  if "only" in args:
    c.tasks = {args["only"]: c.tasks[args["only"]].to_dict()}
    c.method = "fixed"
  if "runlocal" in args:
    c.data = ml_collections.ConfigDict(dict(
        name="scenes_nyuv2", kwargs=dict(num=40, height=64, width=96)))
    c.model.kwargs.width = 0.125
    c.optimizer.learning_rate = 1e-3
    c.method_kwargs.dwa.steps_per_epoch = 8
    c.batch_size = 4
    c.steps = 20
    c.log_every = 5
    c.checkpoint_every = 10
    c.eval_batch_size = 4
  return c
