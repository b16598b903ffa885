"""Cityscapes, read from the official raw layout (Cordts et al., CVPR 2016).

Layout under `root` (the names of the official zips, plus the motion and
flow additions of seed 001 / the TI cityscapes motion dataset):

  leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png        RGB input
  gtFine/{split}/{city}/{stem}_gtFine_labelIds.png         label ids 0..33
  disparity/{split}/{city}/{stem}_disparity.png            uint16 disparity
  camera/{split}/{city}/{stem}_camera.json                 baseline, fx
  gtFine/{split}/{city}/{stem}_gtFine_motion.png           0 static, 1 moving,
                                                           255 ignore
  leftImg8bit_flow_farneback_confidence/{split}/{city}/{stem}_flow.png
                                                           dx, dy, confidence
      (16-bit RGB, the format of `tfmtl.data.flow`; a float32 [H, W, 3]
      `{stem}_*.npy` is read too)

`{stem}` is `{city}_{seq:06d}_{frame:06d}`; split folders are train/val/test.

Depth from disparity (the Cityscapes README): d = (p − 1) / 256 for p > 0,
p = 0 is invalid; depth = baseline · fx / d metres. Pixels with d ≤ 0 get
depth 0 (invalid, as the masked losses expect).

Label schemes (`to_train_ids`), all with 255 = ignore:
- "19": the official trainIds (cityscapesScripts labels.py): ids 7, 8, 11,
  12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33 -> 0..18.
- "7": the official categories without void, the MTAN paper's 7 classes
  (Liu et al., CVPR 2019): flat 0 (7 road, 8 sidewalk, 9 parking, 10 rail
  track), construction 1 (11–16: building, wall, fence, guard rail, bridge,
  tunnel), object 2 (17 pole, 18 polegroup, 19 traffic light, 20 traffic
  sign), nature 3 (21 vegetation, 22 terrain), sky 4 (23), human 5 (24
  person, 25 rider), vehicle 6 (26–33: car, truck, bus, caravan, trailer,
  train, motorcycle, bicycle); void ids 0–6 -> 255. (= official catId − 1.)
- "5": seed 001's road / sky / pedestrian / vehicle / background: road 0
  (id 7 only), sky 1 (23), pedestrian 2 (24 person, 25 rider), vehicle 3
  (26–33), background 4 (all other non-void ids: 8–22); void ids 0–6 -> 255.
Ids outside 0..33 (e.g. 255) map to 255 in every scheme.
"""

import glob
import json
import os
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfmtl.data import marker, pipeline
from tfmtl.data.source import SPLITS
from tfmtl.errors import UserError

TRAIN_IDS_19 = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27,
                28, 31, 32, 33)
CATEGORY_7 = {0: range(7, 11), 1: range(11, 17), 2: range(17, 21),
              3: range(21, 23), 4: (23,), 5: (24, 25), 6: range(26, 34)}
CLASSES_5 = {0: (7,), 1: (23,), 2: (24, 25), 3: range(26, 34),
             4: range(8, 23)}  # background: every non-void id left over
CLASS_NAMES = {
    "19": ("road", "sidewalk", "building", "wall", "fence", "pole",
           "traffic light", "traffic sign", "vegetation", "terrain", "sky",
           "person", "rider", "car", "truck", "bus", "train", "motorcycle",
           "bicycle"),
    "7": ("flat", "construction", "object", "nature", "sky", "human",
          "vehicle"),
    "5": ("road", "sky", "pedestrian", "vehicle", "background"),
}
NUM_CLASSES = {k: len(v) for k, v in CLASS_NAMES.items()}
IGNORE = 255
TASKS = ("semantic", "depth", "motion")
FLOW_DIR = "leftImg8bit_flow_farneback_confidence"
FLOW_EXTS = (".npy", ".png")


def _table(scheme: str) -> np.ndarray:
  table = np.full(256, IGNORE, np.uint8)
  if scheme == "19":
    groups = {i: (lid,) for i, lid in enumerate(TRAIN_IDS_19)}
  elif scheme == "7":
    groups = CATEGORY_7
  elif scheme == "5":
    groups = CLASSES_5
  else:
    raise UserError(f"unknown Cityscapes label scheme {scheme!r}; use one of "
                    f"{', '.join(CLASS_NAMES)}")
  for train_id, ids in groups.items():
    for lid in ids:
      # Each id must land in exactly one class; a second write is a bug.
      assert table[lid] == IGNORE, (scheme, lid)
      table[lid] = train_id
  return table


TABLES = {s: _table(s) for s in CLASS_NAMES}


def to_train_ids(label_ids, scheme: str = "19"):
  """Maps Cityscapes label ids to the train ids of `scheme` (255 = ignore).

  Args:
    label_ids: integer array or tensor of label ids (any shape).
    scheme: "19", "7" or "5" (module docstring).

  Returns:
    Same type as the input: a numpy uint8 array for numpy input, an int32
    tensor for a tensor.
  """
  table = TABLES[str(scheme)] if str(scheme) in TABLES else _table(scheme)
  if isinstance(label_ids, (tf.Tensor, tf.Variable)):
    ids = tf.cast(label_ids, tf.int32)
    # Out-of-range ids (negative, > 255) are clipped to 255 -> ignore.
    ids = tf.where((ids < 0) | (ids > 255), 255, ids)
    return tf.gather(tf.constant(table, tf.int32), ids)
  ids = np.asarray(label_ids).astype(np.int64)
  ids = np.where((ids < 0) | (ids > 255), 255, ids)
  return table[ids]


def depth_from_disparity(disp_png, baseline_fx):
  """Depth in metres from the raw uint16 disparity p (0 where invalid).

  d = (p − 1) / 256 for p > 0; depth = baseline·fx / d where d > 0.
  Works on numpy arrays and tensors alike.
  """
  if isinstance(disp_png, (tf.Tensor, tf.Variable)):
    p = tf.cast(disp_png, tf.float32)
    d = (p - 1.0) / 256.0
    safe = tf.where(d > 0, d, 1.0)
    return tf.where(d > 0, tf.cast(baseline_fx, tf.float32) / safe, 0.0)
  p = np.asarray(disp_png, np.float64)
  d = (p - 1.0) / 256.0
  with np.errstate(divide="ignore"):
    return np.where(d > 0, baseline_fx / np.where(d > 0, d, 1.0),
                    0.0).astype(np.float32)


def read_camera_full(path) -> Dict[str, float]:
  """{baseline, fx, fy, u0, v0} from a Cityscapes camera JSON."""
  try:
    with open(path) as f:
      cam = json.load(f)
    out = {"baseline": float(cam["extrinsic"]["baseline"])}
    out.update({k: float(cam["intrinsic"][k])
                for k in ("fx", "fy", "u0", "v0")})
    return out
  except FileNotFoundError:
    raise UserError(f"{path}: camera file missing") from None
  except (ValueError, KeyError, TypeError) as e:
    raise UserError(f"{path}: not a Cityscapes camera JSON (need "
                    f"extrinsic.baseline and intrinsic.fx, fy, u0, v0): {e}"
                    ) from None


def read_camera(path) -> float:
  """baseline · fx from a Cityscapes camera JSON."""
  cam = read_camera_full(path)
  return cam["baseline"] * cam["fx"]


def decode_flow_png(raw, scale: float = 64.0, offset: float = 2.0 ** 15):
  """uint16 [H, W, 3] (RGB) -> float32 (dx, dy, confidence).

  The format of `tfmtl.data.flow`: dx, dy = (p − offset) / scale (the KITTI
  flow encoding), confidence = p / 65535. Numpy and TF friendly.
  """
  if isinstance(raw, (tf.Tensor, tf.Variable)):
    raw = tf.cast(raw, tf.float32)
    return tf.concat([(raw[..., :2] - offset) / scale,
                      raw[..., 2:] / 65535.0], -1)
  raw = np.asarray(raw, np.float32)
  return np.concatenate([(raw[..., :2] - offset) / scale,
                         raw[..., 2:] / 65535.0], -1)


def read_flow_npy(path) -> np.ndarray:
  """The [H, W, 3] float32 flow input (dx, dy, confidence) from a .npy."""
  path = pipeline.as_str(path)
  arr = np.load(path).astype(np.float32)
  if arr.ndim != 3 or arr.shape[-1] != 3:
    raise UserError(f"{path}: the flow input must be [H, W, 3] (dx, dy, "
                    f"confidence), got {arr.shape}")
  return arr


class CityscapesSource(pipeline.RecordSource):
  """Cityscapes images with semantic / depth / motion labels.

  Args:
    root: folder holding leftImg8bit/, gtFine/, disparity/, camera/, ...
    scheme: label scheme "19", "7" or "5" (module docstring).
    tasks: subset of ("semantic", "depth", "motion").
    with_flow: add the input "flow" [H, W, 3] (dx, dy, confidence).
    height, width: output size (None: the files' own size).
    augment: random zoom-crop (up to `max_scale`) and flip on the train split.
    cache: keep decoded examples in memory.
    max_scale: largest zoom of the augmentation (MTAN uses up to 1.5).
    motion_moving: the value of a moving pixel in the motion PNGs (1 in
      this layout; 255 in the TI release, where there is no ignore value).
  """

  what = "Cityscapes"

  def __init__(self, root: str, scheme: str = "19",
               tasks: Sequence[str] = ("semantic", "depth"),
               with_flow: bool = False, height: Optional[int] = None,
               width: Optional[int] = None, augment: bool = True,
               cache: bool = False, max_scale: float = 1.0,
               motion_moving: int = 1):
    self.root = os.path.expanduser(str(root))
    if not os.path.isdir(self.root):
      raise UserError(f"Cityscapes root {self.root!r} does not exist")
    marker.check(self.root)
    self.scheme = str(scheme)
    _table(self.scheme)  # fails early on an unknown scheme
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
      raise UserError(f"unknown Cityscapes tasks {bad}; choose from {TASKS}")
    self.tasks = tuple(tasks)
    self.with_flow = with_flow
    if (height is None) != (width is None):
      raise UserError("give both height and width, or neither")
    self.size = None if height is None else (int(height), int(width))
    self.augment = augment
    self.cache = cache
    self.max_scale = float(max_scale)
    self.motion_moving = int(motion_moving)
    self.num_classes = NUM_CLASSES[self.scheme]
    self._records = {}
    self._flow_ext = None

  @property
  def task_names(self):
    return list(self.tasks)

  # ------------------------------------------------------------- listing

  def _path(self, kind, split, city, stem):
    d = {"image": ("leftImg8bit", "_leftImg8bit.png"),
         "semantic": ("gtFine", "_gtFine_labelIds.png"),
         "motion": ("gtFine", "_gtFine_motion.png"),
         "disparity": ("disparity", "_disparity.png"),
         "camera": ("camera", "_camera.json")}[kind]
    return os.path.join(self.root, d[0], split, city, stem + d[1])

  def _flow_path(self, split, city, stem):
    # `{stem}_flow.png` is what `python -m tfmtl.data.flow` writes; its
    # `*_vis.png` colour-wheel pictures sit next to it and are not inputs.
    found = [p for p in sorted(glob.glob(os.path.join(
        self.root, FLOW_DIR, split, city, stem + "_*")))
             if os.path.splitext(p)[1] in FLOW_EXTS
             and not p.endswith("_vis.png")]
    if not found:
      raise UserError(
          f"no flow input for {self._path('image', split, city, stem)}: "
          f"expected {os.path.join(self.root, FLOW_DIR, split, city, stem)}"
          f"_*.npy or .png (compute it with `python -m tfmtl.data.flow`)")
    return found[0]

  def records(self, split: str) -> Dict[str, np.ndarray]:
    """Checked file lists of a split: one row per image."""
    if split in self._records:
      return self._records[split]
    if split not in SPLITS:
      raise UserError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    pattern = os.path.join(self.root, "leftImg8bit", split, "*",
                           "*_leftImg8bit.png")
    images = sorted(glob.glob(pattern))
    if not images:
      raise UserError(f"split {split!r} is empty: no files match {pattern}")
    rows = {"image": [], "semantic": [], "disparity": [], "baseline_fx": [],
            "motion": [], "flow": []}
    shape = None
    for img in images:
      city = os.path.basename(os.path.dirname(img))
      stem = os.path.basename(img)[:-len("_leftImg8bit.png")]
      hw = pipeline.check_png(img)
      if shape is None:
        shape = hw
      elif hw != shape and self.size is None:
        raise UserError(f"{img}: size {hw} differs from {shape}; pass "
                        f"height and width to resize all images")
      rows["image"].append(img)
      for task in ("semantic", "motion"):
        path = self._path(task, split, city, stem)
        if task in self.tasks:
          self._require(path, img, task)
          pipeline.check_png(path, 8, f"{task} label")
        rows[task].append(path)
      disp = self._path("disparity", split, city, stem)
      cam = self._path("camera", split, city, stem)
      if "depth" in self.tasks:
        self._require(disp, img, "disparity")
        pipeline.check_png(disp, 16, "disparity")
        self._require(cam, img, "camera")
        rows["baseline_fx"].append(read_camera(cam))
      else:
        rows["baseline_fx"].append(0.0)
      rows["disparity"].append(disp)
      if self.with_flow:
        flow = self._flow_path(split, city, stem)
        ext = os.path.splitext(flow)[1]
        if self._flow_ext is None:
          self._flow_ext = ext
        elif ext != self._flow_ext:
          raise UserError(f"{flow}: flow inputs mix {ext} and "
                          f"{self._flow_ext} files; use one format")
        if ext == ".png":
          pipeline.check_png(flow, 16, "flow input")
        rows["flow"].append(flow)
      else:
        rows["flow"].append("")
    self._native = shape
    out = {k: np.array(v) for k, v in rows.items()}
    out["baseline_fx"] = out["baseline_fx"].astype(np.float32)
    self._records[split] = out
    return out

  @staticmethod
  def _require(path, image, what):
    if not os.path.exists(path):
      raise UserError(f"missing {what} for {image}: expected {path}")

  # ------------------------------------------------------------- decoding

  def decode(self, row):
    """One row of `records` -> (inputs, labels); graph friendly."""
    size = self.size or self._native
    image = tf.cast(pipeline.read_png(row["image"], tf.uint8, 3),
                    tf.float32) / 255.0
    inputs = {"image": image}
    labels = {}
    if "semantic" in self.tasks:
      ids = pipeline.read_png(row["semantic"], tf.uint8, 1)[..., 0]
      labels["semantic"] = to_train_ids(ids, self.scheme)
    if "depth" in self.tasks:
      disp = pipeline.read_png(row["disparity"], tf.uint16, 1)
      labels["depth"] = depth_from_disparity(disp, row["baseline_fx"])
    if "motion" in self.tasks:
      m = tf.cast(pipeline.read_png(row["motion"], tf.uint8, 1)[..., 0],
                  tf.int32)
      labels["motion"] = tf.where(
          m == self.motion_moving, 1, tf.where(m == 0, 0, 255))
    if self.with_flow:
      if self._flow_ext == ".png":
        flow = decode_flow_png(pipeline.read_png(row["flow"], tf.uint16, 3))
      else:
        flow = tf.numpy_function(read_flow_npy, [row["flow"]], tf.float32,
                                 stateful=False)
      inputs["flow"] = tf.ensure_shape(flow, [None, None, 3])
    h, w = size
    inputs = {k: _fix(k, v, (h, w)) for k, v in inputs.items()}
    labels = {k: _fix(k, v, (h, w)) for k, v in labels.items()}
    return inputs, labels

  def augment_fn(self, inputs, labels, seed):
    return pipeline.augment(inputs, labels, seed, flip=True,
                            max_scale=self.max_scale)



def _fix(key, x, size):
  """Resizes to `size` unless already there, and pins the static shape."""
  shape = tf.shape(x)
  same = tf.logical_and(tf.equal(shape[0], size[0]),
                        tf.equal(shape[1], size[1]))
  x = tf.cond(same, lambda: x, lambda: pipeline.resize_dense(x, key, size))
  static = list(size) + list(x.shape[2:])
  return tf.ensure_shape(x, static)


def write_example(root, split: str, city: str, stem: str, image: np.ndarray,
                  label_ids: Optional[np.ndarray] = None,
                  disparity: Optional[np.ndarray] = None,
                  baseline: float = 0.209313, fx: float = 2262.52,
                  motion: Optional[np.ndarray] = None,
                  flow: Optional[np.ndarray] = None, flow_ext: str = ".png"):
  """Writes one example in the layout this module reads (tests, generators).

  Args:
    root, split, city, stem: where (`stem` like "aachen_000000_000019").
    image: [H, W, 3] uint8 RGB.
    label_ids: [H, W] uint8 Cityscapes label ids.
    disparity: [H, W] uint16 raw disparity p (d = (p − 1)/256).
    baseline, fx: camera (defaults: a real Cityscapes camera).
    motion: [H, W] uint8 (0 static, 1 moving, 255 ignore).
    flow: [H, W, 3] float32 (dx, dy, confidence).
    flow_ext: ".png" (16-bit, `tfmtl.data.flow`'s format) or ".npy".
  """
  import cv2

  def put(sub, suffix, arr):
    path = os.path.join(root, sub, split, city, stem + suffix)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if suffix.endswith(".npy"):
      np.save(path, arr)
    else:
      arr = arr[..., ::-1] if arr.ndim == 3 else arr  # cv2 writes BGR
      if not cv2.imwrite(path, np.ascontiguousarray(arr)):
        raise UserError(f"{path}: could not write")
    return path

  put("leftImg8bit", "_leftImg8bit.png", np.asarray(image, np.uint8))
  if label_ids is not None:
    put("gtFine", "_gtFine_labelIds.png", np.asarray(label_ids, np.uint8))
  if disparity is not None:
    put("disparity", "_disparity.png", np.asarray(disparity, np.uint16))
    cam = os.path.join(root, "camera", split, city, stem + "_camera.json")
    os.makedirs(os.path.dirname(cam), exist_ok=True)
    with open(cam, "w") as f:
      json.dump({"extrinsic": {"baseline": baseline, "pitch": 0.0,
                               "roll": 0.0, "yaw": 0.0, "x": 1.7, "y": 0.0,
                               "z": 1.2},
                 "intrinsic": {"fx": fx, "fy": fx, "u0": image.shape[1] / 2,
                               "v0": image.shape[0] / 2}}, f)
  if motion is not None:
    put("gtFine", "_gtFine_motion.png", np.asarray(motion, np.uint8))
  if flow is not None:
    flow = np.asarray(flow, np.float32)
    if flow_ext == ".npy":
      put(FLOW_DIR, "_flow.npy", flow)
    else:
      q = np.clip(np.round(np.concatenate(
          [flow[..., :2] * 64.0 + 2.0 ** 15, flow[..., 2:] * 65535.0], -1)),
                  0, 65535).astype(np.uint16)
      put(FLOW_DIR, "_flow.png", q)
