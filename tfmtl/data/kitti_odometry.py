"""KITTI odometry (Geiger, Lenz, Urtasun, CVPR 2012) as frame pairs + poses.

Layout under `root` (the official `data_odometry_color` and
`data_odometry_poses` zips), plus optional flow labels:

  sequences/NN/image_2/{i:06d}.png      left colour frames
  poses/NN.txt                          one line per frame: 12 numbers, the
                                        row-major 3×4 [R | t] of camera i in
                                        the frame of camera 0 (metres)
  flow/NN/{i:06d}.{png,flo,npy}         flow from frame i to i+1 (optional;
                                        `tfmtl.data.flow_io` formats)

Each example is a pair (i, i+1): inputs `{"frames": [H, W, 6]}` (the two RGB
frames stacked, in [0, 1]); labels `{"trans": [3], "rot": [3]}` and,
with flow, `{"flow": [H/2, W/2, 2]}` (pixels of the half-resolution map,
0 where unknown).

Flow labels in [0, 1] (`flow_range`): the PRF reference's flow loss
compares log(1 + clip(y, 0, 1)), so its labels must lie in [0, 1] (its
preprocessing is not published); raw pixel flow would leave every negative
component at 0. With `flow_range` each channel c is mapped affinely,
y_c = (f_c − lo_c) / (hi_c − lo_c), after augmentation; "train" takes
(lo, hi) per channel from the train split's labels, the horizontal range
made symmetric when flips are on (a flip negates f_x). `flow_to_pixels`
undoes it (reading predictions through the loss's clip to [0, 1]); eval.py
reports flow EPE in pixels either way.

Pose labels (the PRF reference's convention): the relative pose of camera
i+1 in the frame of camera i, T_rel = T_i⁻¹ T_{i+1} = [R | t]; `trans` = t,
`rot` = Euler angles (α, β, γ) about the camera's x (right), y (down),
z (forward) axes with R = Rz(γ) Ry(β) Rx(α) ("sxyz" in transforms3d). Both
are divided, per component, by (max − min) of that component over all
consecutive pairs of the train split (no offset, so a mirror's sign flip
still holds; see `tfmtl.data.pipeline`). `label_scale` undoes it.

The reference split: train 00, 01, 02, 03, 06, 08, 09; val 05, 07, 10;
test 04, 05, 07, 10.
"""

import glob
import os
from typing import Dict, Optional, Sequence, Union

import numpy as np
import tensorflow as tf

from tfmtl.data import flow_io
from tfmtl.data import marker, pipeline
from tfmtl.errors import UserError

REFERENCE_SPLIT = {
    "train": ("00", "01", "02", "03", "06", "08", "09"),
    "val": ("05", "07", "10"),
    "test": ("04", "05", "07", "10"),
}
FLOW_EXTS = (".png", ".flo", ".npy")


# ------------------------------------------------------------------- poses


def read_poses(path) -> np.ndarray:
  """[N, 3, 4] absolute poses from a KITTI poses file.

  Raises:
    UserError: missing file, a line without exactly 12 finite numbers.
  """
  if not os.path.exists(path):
    raise UserError(f"{path}: poses file not found")
  rows = []
  with open(path) as f:
    for n, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        vals = [float(v) for v in line.split()]
      except ValueError:
        raise UserError(f"{path}:{n}: not numbers: {line.strip()[:60]!r}"
                        ) from None
      if len(vals) != 12:
        raise UserError(f"{path}:{n}: a KITTI pose line holds 12 numbers "
                        f"(row-major 3×4 [R | t]), found {len(vals)}")
      if not all(np.isfinite(vals)):
        raise UserError(f"{path}:{n}: a pose holds a non-finite number "
                        f"(nan or inf): {line.strip()[:60]!r}")
      rows.append(vals)
  if not rows:
    raise UserError(f"{path}: poses file is empty")
  return np.array(rows, np.float64).reshape(-1, 3, 4)


def euler_from_matrix(r: np.ndarray) -> np.ndarray:
  """(α, β, γ) with R = Rz(γ) Ry(β) Rx(α); r is [..., 3, 3]."""
  beta = np.arcsin(np.clip(-r[..., 2, 0], -1.0, 1.0))
  alpha = np.arctan2(r[..., 2, 1], r[..., 2, 2])
  gamma = np.arctan2(r[..., 1, 0], r[..., 0, 0])
  return np.stack([alpha, beta, gamma], -1)


def matrix_from_euler(e: np.ndarray) -> np.ndarray:
  """R = Rz(γ) Ry(β) Rx(α) for e = (α, β, γ) [..., 3] -> [..., 3, 3]."""
  a, b, c = (e[..., i] for i in range(3))
  ca, sa, cb, sb, cc, sc = (np.cos(a), np.sin(a), np.cos(b), np.sin(b),
                            np.cos(c), np.sin(c))
  return np.stack([
      np.stack([cc * cb, cc * sb * sa - sc * ca, cc * sb * ca + sc * sa], -1),
      np.stack([sc * cb, sc * sb * sa + cc * ca, sc * sb * ca - cc * sa], -1),
      np.stack([-sb, cb * sa, cb * ca], -1)], -2)


def _homogeneous(p):
  p = np.asarray(p, np.float64).reshape(-1, 3, 4)
  out = np.tile(np.eye(4), (len(p), 1, 1))
  out[:, :3, :] = p
  return out


def relative_poses(abs_poses: np.ndarray) -> np.ndarray:
  """[N, 3, 4] (or [N, 12]) absolute poses -> [N − 1, 6] (trans, euler).

  Row i is T_i⁻¹ T_{i+1}: camera i+1 seen from camera i.
  """
  t = _homogeneous(abs_poses)
  rel = np.linalg.inv(t[:-1]) @ t[1:]
  return np.concatenate([rel[:, :3, 3], euler_from_matrix(rel[:, :3, :3])],
                        -1)


def integrate(rel_poses: np.ndarray,
              start: Optional[np.ndarray] = None) -> np.ndarray:
  """[M, 6] relative poses -> [M + 1, 3, 4] absolute poses.

  The inverse of `relative_poses`: T_{i+1} = T_i · T_rel,i, from `start`
  (default the identity, KITTI's pose 0).
  """
  rel = np.asarray(rel_poses, np.float64)
  step = np.tile(np.eye(4), (len(rel), 1, 1))
  step[:, :3, :3] = matrix_from_euler(rel[:, 3:])
  step[:, :3, 3] = rel[:, :3]
  cur = np.eye(4) if start is None else _homogeneous(start)[0]
  out = [cur]
  for s in step:
    cur = cur @ s
    out.append(cur)
  return np.stack(out)[:, :3, :]


# ------------------------------------------------------------------ source


class KittiOdometrySource(pipeline.RecordSource):
  """Pairs of consecutive KITTI frames with relative pose (and flow) labels.

  Args:
    root: folder holding sequences/ and poses/ (and flow/ with flow).
    split: "reference" (REFERENCE_SPLIT) or a dict {split: [sequence ids]}.
    height, width: frame size after resizing (the reference: 128×320).
    with_flow: add the "flow" label [height/2, width/2, 2].
    sequences: overrides the split table: a dict {split: [ids]}, or one list
      used for every split (e.g. the only sequences of a small dataset).
    label_scale: [6] divisors of (trans, rot); None: (max − min) over the
      train split's pairs, which must then be on disk.
    augment: random horizontal flip (frames, flow x, mirrored pose) on train.
    cache: keep decoded pairs in memory.
    flow_range: None (flow labels in pixels), "train" (mapped to [0, 1] by
      the train split's per-channel range), or (lo, hi) / ((lo_x, hi_x),
      (lo_y, hi_y)) in pixels of the half-resolution map.
  """

  what = "KITTI"
  # Its (translation, rotation) labels: eval.py integrates the predicted
  # relative poses into trajectories and adds the KITTI metric.
  odometry_tasks = ("trans", "rot")

  def __init__(self, root: str, split: Union[str, Dict] = "reference",
               height: int = 128, width: int = 320, with_flow: bool = True,
               sequences: Optional[Union[Sequence[str], Dict]] = None,
               label_scale: Optional[Sequence[float]] = None,
               augment: bool = True, cache: bool = False,
               flow_range: Optional[Union[str, Sequence]] = None):
    self.root = os.path.expanduser(str(root))
    if not os.path.isdir(self.root):
      raise UserError(f"KITTI odometry root {self.root!r} does not exist")
    marker.check(self.root)
    if sequences is not None:
      table = (dict(sequences) if isinstance(sequences, dict)
               else {s: tuple(sequences) for s in REFERENCE_SPLIT})
    elif split == "reference":
      table = REFERENCE_SPLIT
    elif isinstance(split, dict):
      table = dict(split)
    else:
      raise UserError(f"KITTI split {split!r}: use 'reference' or a dict "
                      f"{{split: [sequence ids]}}")
    self.splits = {k: tuple(f"{int(s):02d}" for s in v)
                   for k, v in table.items()}
    if height % 2 or width % 2:
      raise UserError(f"height and width must be even (flow is at half "
                      f"resolution), got {height}×{width}")
    self.size = (int(height), int(width))
    self.with_flow = with_flow
    self.augment = augment
    self.cache = cache
    self._label_scale = (None if label_scale is None
                         else np.asarray(label_scale, np.float32))
    self._records = {}
    self._rel = {}
    self._all_png = False
    self._flow_range = _parse_flow_range(flow_range)

  @property
  def task_names(self):
    return ["trans", "rot"] + (["flow"] if self.with_flow else [])

  @property
  def label_scale(self) -> np.ndarray:
    """[6] divisors of (trans, rot): (max − min) over the train pairs."""
    if self._label_scale is None:
      if "train" not in self.splits or not self.splits["train"]:
        raise UserError("no train sequences to compute the label scale "
                        "from; pass label_scale")
      rel = np.concatenate([self._relative(s) for s in self.splits["train"]])
      span = rel.max(0) - rel.min(0)
      # A constant component (e.g. a straight synthetic drive) keeps scale 1.
      self._label_scale = np.where(span > 0, span, 1.0).astype(np.float32)
    return self._label_scale

  @property
  def flow_range(self) -> Optional[np.ndarray]:
    """[2 (lo, hi), 2 (x, y)] pixels mapped to 0 and 1, or None."""
    if not self.with_flow or self._flow_range is None:
      return None
    if isinstance(self._flow_range, str):  # "train": measured once
      lo, hi = self._train_flow_extremes()
      if self.augment:
        lo[0], hi[0] = min(lo[0], -hi[0]), max(hi[0], -lo[0])
      hi = np.where(hi > lo, hi, lo + 1.0)
      self._flow_range = np.stack([lo, hi]).astype(np.float32)
    return self._flow_range

  def _train_flow_extremes(self):
    """Per-channel min and max of the train split's flow labels (as
    decoded, no augmentation), streamed batch by batch."""
    if "train" not in self.splits or not self.splits["train"]:
      raise UserError("no train sequences to measure the flow range from; "
                      "pass flow_range=(lo, hi)")
    ds = tf.data.Dataset.from_tensor_slices(self.records("train")).map(
        lambda row: self.decode(row)[1]["flow"],
        num_parallel_calls=tf.data.AUTOTUNE).batch(64)
    lo, hi = np.full(2, np.inf), np.full(2, -np.inf)
    for b in ds:
      lo = np.minimum(lo, tf.reduce_min(b, axis=[0, 1, 2]).numpy())
      hi = np.maximum(hi, tf.reduce_max(b, axis=[0, 1, 2]).numpy())
    return lo, hi

  def flow_to_pixels(self, flow, prediction: bool = False):
    """Labels or predictions in label units -> pixels (identity without
    `flow_range`). A prediction is read as the flow loss reads it, through
    clip(·, 0, 1): outside [0, 1] the loss has no gradient, so raw outputs
    there carry no meaning."""
    r = self.flow_range
    if r is None:
      return flow
    if prediction:
      flow = tf.clip_by_value(flow, 0.0, 1.0)
    return flow * (r[1] - r[0]) + r[0]

  def dataset(self, split: str, batch_size: int, **kwargs):
    ds = super().dataset(split, batch_size, **kwargs)
    r = self.flow_range
    if r is None:
      return ds
    lo, span = tf.constant(r[0]), tf.constant(r[1] - r[0])

    def to_unit(inputs, labels):
      labels = dict(labels)
      labels["flow"] = (labels["flow"] - lo) / span
      return inputs, labels
    return ds.map(to_unit, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE)

  def _relative(self, seq):
    if seq not in self._rel:
      self._rel[seq] = relative_poses(
          read_poses(os.path.join(self.root, "poses", f"{seq}.txt")))
    return self._rel[seq]

  def _frames(self, seq):
    d = os.path.join(self.root, "sequences", seq, "image_2")
    frames = sorted(glob.glob(os.path.join(d, "*.png")))
    if not frames:
      raise UserError(f"sequence {seq}: no frames in {d}")
    return frames

  def _flow_file(self, seq, i, frame):
    base = os.path.join(self.root, "flow", seq, f"{i:06d}")
    for ext in FLOW_EXTS:
      if os.path.exists(base + ext):
        return base + ext
    raise UserError(f"missing flow label for {frame}: expected {base}.png, "
                    f".flo or .npy (or pass with_flow=False)")

  def records(self, split: str) -> Dict[str, np.ndarray]:
    """Checked pair lists of a split: one row per consecutive pair."""
    if split in self._records:
      return self._records[split]
    if split not in self.splits:
      raise UserError(f"unknown split {split!r}; known: "
                      f"{', '.join(self.splits)}")
    rows = {"first": [], "second": [], "pose": [], "flow": []}
    for seq in self.splits[split]:
      frames = self._frames(seq)
      rel = self._relative(seq)
      posefile = os.path.join(self.root, "poses", f"{seq}.txt")
      if len(rel) + 1 != len(frames):
        raise UserError(f"{posefile}: {len(rel) + 1} poses for "
                        f"{len(frames)} frames in sequence {seq}")
      for f in frames:
        pipeline.check_png(f)
      for i in range(len(frames) - 1):
        rows["first"].append(frames[i])
        rows["second"].append(frames[i + 1])
        rows["pose"].append(rel[i])
        rows["flow"].append(self._flow_file(seq, i, frames[i])
                            if self.with_flow else "")
    if not rows["first"]:
      raise UserError(f"KITTI split {split!r} is empty (sequences "
                      f"{self.splits[split]} under {self.root})")
    out = {k: np.array(v) for k, v in rows.items()}
    self._all_png = self.with_flow and all(
        f.endswith(".png") for f in rows["flow"])
    out["pose"] = (out["pose"] / self.label_scale).astype(np.float32)
    self._records[split] = out
    return out

  def decode(self, row):
    """One pair row -> ({"frames"}, {"trans", "rot"[, "flow"]})."""
    h, w = self.size
    frames = []
    for key in ("first", "second"):
      img = tf.cast(pipeline.read_png(row[key], tf.uint8, 3), tf.float32)
      frames.append(pipeline.resize_dense(img / 255.0, "image", (h, w)))
    inputs = {"frames": tf.ensure_shape(tf.concat(frames, -1), [h, w, 6])}
    labels = {"trans": tf.ensure_shape(row["pose"][:3], [3]),
              "rot": tf.ensure_shape(row["pose"][3:], [3])}
    if self.with_flow:
      if self._all_png:  # KITTI 16-bit PNG: decode in the graph, no GIL
        raw = tf.cast(pipeline.read_png(row["flow"], tf.uint16, 3),
                      tf.float32)
        flow = tf.where(raw[..., 2:] > 0,
                        (raw[..., :2] - 2.0 ** 15) / 64.0, 0.0)
      else:
        flow = tf.numpy_function(_read_flow_np, [row["flow"]], tf.float32,
                                 stateful=False)
      flow = pipeline.resize_dense(tf.ensure_shape(flow, [None, None, 2]),
                                   "flow", (h // 2, w // 2))
      labels["flow"] = tf.ensure_shape(flow, [h // 2, w // 2, 2])
    return inputs, labels

  def augment_fn(self, inputs, labels, seed):
    return pipeline.augment(inputs, labels, seed, flip=True)



def _parse_flow_range(value):
  """None, "train", or a [2 (lo, hi), 2 (x, y)] float32 array."""
  if value is None or (isinstance(value, str) and value == "train"):
    return value
  try:
    r = np.asarray(value, np.float32)
    if r.shape == (2,):
      r = np.stack([np.full(2, r[0]), np.full(2, r[1])])
    elif r.shape == (2, 2):
      r = r.T  # given per channel as ((lo_x, hi_x), (lo_y, hi_y))
    else:
      raise ValueError
  except (TypeError, ValueError):
    raise UserError(f"flow_range={value!r}: use None, 'train', (lo, hi) or "
                    "((lo_x, hi_x), (lo_y, hi_y))") from None
  if np.any(r[1] <= r[0]):
    raise UserError(f"flow_range={value!r}: each hi must exceed its lo")
  return r


def _read_flow_np(path):
  flow, _ = flow_io.read_flow(pipeline.as_str(path))
  return flow


def write_sequence(root, seq: str, frames: Sequence[np.ndarray],
                   poses: np.ndarray, flows: Optional[Sequence] = None,
                   flow_ext: str = ".png"):
  """Writes one sequence in the layout this module reads (tests, generators).

  Args:
    root: dataset folder.
    seq: sequence id ("00").
    frames: [H, W, 3] uint8 RGB frames.
    poses: [N, 3, 4] absolute poses.
    flows: optional N − 1 flows [H, W, 2] (frame i -> i + 1).
    flow_ext: ".png" (KITTI 16-bit), ".flo" or ".npy".
  """
  import cv2
  d = os.path.join(root, "sequences", seq, "image_2")
  os.makedirs(d, exist_ok=True)
  for i, f in enumerate(frames):
    cv2.imwrite(os.path.join(d, f"{i:06d}.png"),
                np.ascontiguousarray(np.asarray(f, np.uint8)[..., ::-1]))
  os.makedirs(os.path.join(root, "poses"), exist_ok=True)
  np.savetxt(os.path.join(root, "poses", f"{seq}.txt"),
             np.asarray(poses).reshape(-1, 12), fmt="%.9e")
  for i, fl in enumerate(() if flows is None else flows):
    flow_io.write_flow(os.path.join(root, "flow", seq, f"{i:06d}{flow_ext}"),
                       fl)
