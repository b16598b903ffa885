"""TFDS builder `cityscapes_mtl`: Cityscapes for multi-task learning.

Why not TFDS's own `cityscapes`: it decodes the 16-bit disparity PNGs as
8-bit (useless for depth) and has no config with segmentation and disparity
together (DESIGN.md §5). This builder keeps disparity as uint16, so
depth = baseline·fx / ((p − 1)/256) can be computed exactly downstream
(`tfmtl.data.cityscapes.depth_from_disparity`).

Usage:

  import tensorflow_datasets as tfds
  from tfmtl.data import tfds_cityscapes_mtl  # registers the builder
  builder = tfds.builder("cityscapes_mtl/semantic_depth", data_dir=DATA)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=MANUAL))
  ds = builder.as_dataset(split="train")

Features: `image` uint8 [H, W, 3]; `label` uint8 [H, W, 1] Cityscapes
label ids (map with `tfmtl.data.cityscapes.to_train_ids`); `disparity`
uint16 [H, W, 1] raw p; `camera` {baseline, fx, fy, u0, v0}; config
`all` adds `motion` uint8 [H, W, 1] (0 static, 1 moving, 255 ignore) and
`flow` uint16 [H, W, 3], the flow + confidence input in the 16-bit format of
`tfmtl.data.flow` (decode with `tfmtl.data.cityscapes.decode_flow_png`).
"""

import os

import numpy as np
import tensorflow_datasets as tfds

from tfmtl.data import cityscapes
from tfmtl.errors import UserError

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Cityscapes needs a registration: https://www.cityscapes-dataset.com/.
Download leftImg8bit_trainvaltest.zip, gtFine_trainvaltest.zip,
disparity_trainvaltest.zip and camera_trainvaltest.zip, and extract them into
manual_dir so that it holds leftImg8bit/, gtFine/, disparity/ and camera/
(each with train/, val/, test/ inside). For the `all` config also put the
motion annotation (gtFine/{split}/{city}/*_gtFine_motion.png) and the flow
input folder leftImg8bit_flow_farneback_confidence/ there (compute it with
`python -m tfmtl.data.flow --root MANUAL_DIR --layout cityscapes`).
`python -m tfmtl.data.scenes --out MANUAL_DIR` writes the same layout with
procedural scenes.
"""

_SPLITS = {"train": "train", "validation": "val", "test": "test"}


class CityscapesMtlConfig(tfds.core.BuilderConfig):
  """Config: with_motion_flow adds the motion label and the flow input."""

  def __init__(self, *, with_motion_flow: bool = False, **kwargs):
    super().__init__(version=tfds.core.Version("1.0.0"), **kwargs)
    self.with_motion_flow = with_motion_flow


class CityscapesMtl(tfds.core.GeneratorBasedBuilder):
  """Cityscapes image, labelIds, 16-bit disparity, camera (+ motion, flow)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
  BUILDER_CONFIGS = [
      CityscapesMtlConfig(name="semantic_depth",
                          description="image, labelIds, disparity, camera"),
      CityscapesMtlConfig(name="all", with_motion_flow=True,
                          description="semantic_depth + motion and flow"),
  ]

  def _info(self):
    img = lambda c, dtype=np.uint8: tfds.features.Image(
        shape=(None, None, c), dtype=dtype, encoding_format="png")
    features = {
        "image_id": tfds.features.Text(),
        "image": img(3),
        "label": img(1),
        "disparity": img(1, np.uint16),
        "camera": {k: np.float32 for k in ("baseline", "fx", "fy", "u0",
                                           "v0")},
    }
    if self.builder_config.with_motion_flow:
      features["motion"] = img(1)
      features["flow"] = img(3, np.uint16)
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict(features),
        homepage="https://www.cityscapes-dataset.com/",
        citation="Cordts et al., The Cityscapes Dataset for Semantic Urban "
                 "Scene Understanding, CVPR 2016.")

  def _split_generators(self, dl_manager):
    root = str(dl_manager.manual_dir)
    present = {k: v for k, v in _SPLITS.items()
               if os.path.isdir(os.path.join(root, "leftImg8bit", v))}
    if not present:
      raise UserError(
          f"{root}: no leftImg8bit/{{train,val,test}} folders.\n"
          + MANUAL_DOWNLOAD_INSTRUCTIONS)
    return {k: self._generate_examples(root, v) for k, v in present.items()}

  def _generate_examples(self, root, split):
    full = self.builder_config.with_motion_flow
    tasks = ("semantic", "depth") + (("motion",) if full else ())
    # The reader's listing checks every file (missing, corrupt, 8-bit).
    rows = cityscapes.CityscapesSource(root, tasks=tasks,
                                       with_flow=full).records(split)
    for i, image in enumerate(rows["image"]):
      stem = os.path.basename(image)[:-len("_leftImg8bit.png")]
      city = stem.split("_")[0]
      cam = cityscapes.read_camera_full(os.path.join(
          root, "camera", split, city, stem + "_camera.json"))
      ex = {"image_id": stem, "image": image,
            "label": _gray(rows["semantic"][i], np.uint8),
            "disparity": _gray(rows["disparity"][i], np.uint16),
            "camera": cam}
      if full:
        ex["motion"] = _gray(rows["motion"][i], np.uint8)
        ex["flow"] = _flow_png(rows["flow"][i])
      yield stem, ex


def _gray(path, dtype):
  import cv2
  arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
  return np.asarray(arr, dtype)[..., None]


def _flow_png(path):
  """The 16-bit RGB flow input; a .npy input is encoded the same way."""
  import cv2
  if str(path).endswith(".npy"):
    fc = cityscapes.read_flow_npy(path)
    return np.clip(np.round(np.concatenate(
        [fc[..., :2] * 64.0 + 2.0 ** 15, fc[..., 2:] * 65535.0], -1)),
                   0, 65535).astype(np.uint16)
  return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1].copy()
