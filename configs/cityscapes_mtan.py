r"""MTAN (Liu, Johns & Davison, CVPR 2019) on CityScapes: semantic + depth.

Seed 002: SegNet-MTAN on Liu's preprocessed 128×256 CityScapes (7 classes),
Adam 1e-4, DWA weighting with temperature 2.
  python train.py --config=configs/cityscapes_mtan.py \
      --config.data.kwargs.root=/data/cityscapes_npy --workdir=runs/mtan
  python train.py --config=configs/cityscapes_mtan.py:runlocal --workdir=/tmp/m
`runlocal` trains a width-0.125 MTAN for a few steps on the procedural
`scenes` source at 64×128 (DWA with 10-step "epochs").
"""

import ml_collections

from configs import cityscapes_segnet


def get_config(arg: str = ""):
  args = [a for a in (arg or "").split(",") if a]
  c = cityscapes_segnet.get_config(",".join(a for a in args
                                            if a == "runlocal"))
  c.model = ml_collections.ConfigDict(dict(
      name="mtan", kwargs=dict(width=1.0,
                               output_channels={"semantic": 7, "depth": 1})))
  c.method = "dwa"
  if "runlocal" in args:
    c.model.kwargs.width = 0.125
  return c
