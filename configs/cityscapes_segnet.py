r"""SegNet baselines of the MTAN paper on CityScapes (7-class semantic + depth).

Liu, Johns & Davison, CVPR 2019, Table (CityScapes, 128×256): One Task
(`single`), Split (`split`, `split_wide`, `split_deep`), Dense (`dense`) and
Cross-Stitch (`cross_stitch`). The first argument picks the model:
  python train.py --config=configs/cityscapes_segnet.py:split \
      --config.data.kwargs.root=/data/cityscapes_npy --workdir=runs/split
  python train.py --config=configs/cityscapes_segnet.py:dense,runlocal \
      --workdir=/tmp/dense
`runlocal` trains a width-0.125 network for a few steps on the procedural
`scenes` source at 64×128.
"""

import ml_collections

from configs import common

FORMS = {
    "single": ("segnet", dict(form="single")),
    "split": ("segnet", dict(form="split", variant="standard")),
    "split_wide": ("segnet", dict(form="split", variant="wide")),
    "split_deep": ("segnet", dict(form="split", variant="deep")),
    "dense": ("segnet_dense", {}),
    "cross_stitch": ("cross_stitch", {}),
}


def get_config(arg: str = ""):
  args = [a for a in (arg or "").split(",") if a]
  forms = [a for a in args if a in FORMS] or ["split"]
  unknown = [a for a in args if a not in FORMS and a != "runlocal"]
  if unknown or len(forms) > 1:
    raise ValueError(f"cityscapes_segnet: arguments {args}; pick one of "
                     f"{sorted(FORMS)} and optionally runlocal")
  name, kwargs = FORMS[forms[0]]
  c = common.base_config()
  # Liu's preprocessed CityScapes: 128×256 .npy, 7 classes, depth.
  c.data = ml_collections.ConfigDict(dict(
      name="cityscapes_npy",
      kwargs=dict(root="~/data/cityscapes_npy", num_classes=7)))
  c.model = ml_collections.ConfigDict(dict(
      name=name, kwargs=dict(kwargs, width=1.0,
                             output_channels={"semantic": 7, "depth": 1})))
  c.tasks = ml_collections.ConfigDict(dict(
      semantic=dict(loss="sparse_ce", weight=1.0, role="main"),
      depth=dict(loss="masked_l1", weight=1.0, role="main")))
  # DWA re-weights once per epoch: 2975 training images / batch 8.
  c.method_kwargs = ml_collections.ConfigDict(dict(
      dwa=dict(temp=2.0, steps_per_epoch=2975 // 8)))
  # MTAN paper: Adam 1e-4, halved every 100 epochs, 200 epochs, batch 8.
  c.optimizer = ml_collections.ConfigDict(dict(name="adam",
                                               learning_rate=1e-4))
  c.batch_size = 8
  c.steps = 200 * 2975 // 8
  c.log_every = 200
  c.checkpoint_every = 5000
  c.eval_split = "val"
  c.eval_batch_size = 8
  if "runlocal" in args:
    c.data = ml_collections.ConfigDict(dict(
        name="scenes", kwargs=dict(height=64, width=128, num=64, scheme="7",
                                   tasks=["semantic", "depth"],
                                   with_flow=False)))
    c.model.kwargs.width = 0.125
    c.optimizer.learning_rate = 1e-3
    c.method_kwargs.dwa.steps_per_epoch = 10
    c.batch_size = 4
    c.steps = 20
    c.log_every = 5
    c.checkpoint_every = 10
    c.eval_batch_size = 4
  return c
