"""The one input pipeline every file-backed source uses.

Pieces, each a pure function that runs the same eagerly and inside tf.data:

- PNG checks in Python (`png_info`, `check_png`) so bad files fail up front
  with a `UserError` naming the file, instead of an anonymous decode error
  deep in a tf.data iterator (or, for 8-bit disparity read as 16-bit, no
  error at all: TF would silently rescale p to 257·p).
- `read_png`: graph-mode decode.
- `resize_dense`: fixed output size; bilinear for images, nearest for labels,
  depth and flow (never mix valid with invalid pixels); flow values scale
  with the size ratio.
- Joint augmentation of a dense sample `(inputs, labels)`:
  `flip_left_right`, `scale_crop` and `augment` (seeded, stateless).
- `make_dataset`: shard by `tf.distribute.InputContext` → shuffle → parallel
  decode → cache → repeat → augment → batch with `drop_remainder` (static
  shapes for TPU/XLA) → prefetch.

Keys decide how a tensor is transformed (the conventions of tfmtl.data):
`image`, `frames` ([H, W, C] float in [0, 1]); `semantic`, `motion`
(int labels, [H, W]); `depth` ([H, W, 1], 0 = invalid); `flow` ([H, W, 2]
label or [H, W, 3] input: dx, dy[, confidence]); `normal` ([H, W, 3] unit
surface normals, 0 = invalid); `trans`, `rot` ([3]).

Horizontal flip, derived. The mirror is M = diag(−1, 1, 1) in the camera
frame (x right, y down, z forward). A pixel at x goes to x' = W − 1 − x and
its flow target x + u to W − 1 − x − u = x' − u, so u' = −u, v' = v. A
relative pose [R | t] becomes [M R M | M t]: t' = (−tx, ty, tz). With
R = Rz(γ) Ry(β) Rx(α) (or any order of the three elementary rotations),
M R M = (M Rz M)(M Ry M)(M Rx M) since M² = I, and M Rx(α) M = Rx(α),
M Ry(β) M = Ry(−β), M Rz(γ) M = Rz(−γ) (a mirror commutes with rotation about
its normal axis and reverses the other two). So Euler (α, β, γ) →
(α, −β, −γ): exact, not a small-angle approximation. Pose labels scaled by a
positive constant (no offset) flip the same way. A surface normal n becomes
M n = (−nx, ny, nz) (MTAN's NYUv2 flip negates channel 0 the same way); a
zoom-crop leaves normals unchanged (sampled nearest, so they stay unit).
Flipping twice is the identity for every key.
"""

import os
import struct
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfmtl.errors import UserError

IMAGE_KEYS = ("image", "frames")
LABEL_KEYS = ("semantic", "motion")
DEPTH_KEYS = ("depth",)
FLOW_KEYS = ("flow",)
NORMAL_KEYS = ("normal",)
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> channels


# ----------------------------------------------------------------- checks


def png_info(path) -> Tuple[int, int, int, int]:
  """(height, width, bit_depth, channels) from the PNG header.

  Also checks the file ends with the IEND chunk, which catches truncated
  downloads without decoding.

  Raises:
    UserError: the file is missing, not a PNG, or truncated.
  """
  try:
    with open(path, "rb") as f:
      head = f.read(33)
      f.seek(0, os.SEEK_END)
      size = f.tell()
      f.seek(max(0, size - 12))
      tail = f.read(12)
  except OSError:
    raise UserError(f"{path}: file not found or unreadable") from None
  if len(head) < 33 or head[:8] != _PNG_SIG or head[12:16] != b"IHDR":
    raise UserError(f"{path}: not a PNG file (corrupt or wrong format); "
                    f"re-extract or regenerate it")
  if tail != _IEND:
    raise UserError(f"{path}: truncated or corrupt PNG (no IEND chunk); "
                    f"re-extract or regenerate it")
  width, height, depth, ctype = struct.unpack(">IIBB", head[16:26])
  return height, width, depth, _PNG_CHANNELS.get(ctype, 0)


def check_png(path, bit_depth: Optional[int] = None,
              what: str = "image") -> Tuple[int, int]:
  """Checks a PNG (and its bit depth, when given); returns (height, width)."""
  h, w, depth, _ = png_info(path)
  if bit_depth is not None and depth != bit_depth:
    raise UserError(f"{path}: {what} must be a {bit_depth}-bit PNG, found "
                    f"{depth}-bit; use the original files (an {depth}-bit "
                    f"copy has lost the precision)")
  return h, w


# ---------------------------------------------------------- decode, resize


def as_str(path) -> str:
  """A path handed to a numpy_function (bytes, numpy str or str) as str."""
  if isinstance(path, np.ndarray):
    path = path.item()
  return path.decode() if isinstance(path, bytes) else str(path)


def read_png(path, dtype=tf.uint8, channels: int = 0) -> tf.Tensor:
  """Decodes a PNG file to [H, W, C] of `dtype` (graph friendly)."""
  return tf.io.decode_png(tf.io.read_file(path), channels=channels,
                          dtype=dtype)


def resize_dense(x: tf.Tensor, key: str, size: Sequence[int]) -> tf.Tensor:
  """Resizes one dense tensor to `size` = (height, width) by its key's rule.

  Images: bilinear (antialiased when shrinking). Labels, depth, flow:
  nearest, so an invalid pixel is never averaged into a valid one. Flow
  values are displacements in pixels, so dx scales by W'/W and dy by H'/H.
  Depth in metres does not change with the image size.
  """
  h, w = int(size[0]), int(size[1])
  squeeze = len(x.shape) == 2
  if squeeze:
    x = x[..., None]
  in_hw = tf.cast(tf.shape(x)[:2], tf.float32)
  if key in IMAGE_KEYS:
    out = tf.image.resize(tf.cast(x, tf.float32), (h, w), antialias=True)
  else:
    out = tf.image.resize(x, (h, w), method="nearest")
  if key in FLOW_KEYS:
    ratio = tf.stack([w / in_hw[1], h / in_hw[0]])
    out = _scale_flow(out, ratio)
  out = tf.cast(out, x.dtype) if key not in IMAGE_KEYS else out
  return out[..., 0] if squeeze else out


def _scale_flow(flow, factor):
  """Multiplies channels 0, 1 (dx, dy) by `factor`; channel 2 is untouched."""
  c = flow.shape[-1]
  factor = tf.cast(factor, flow.dtype) * tf.ones([2], flow.dtype)
  scale = tf.concat([factor, tf.ones([c - 2], flow.dtype)], 0)
  return flow * scale


# ------------------------------------------------------------ augmentation


def flip_left_right(inputs: Dict[str, tf.Tensor],
                    labels: Dict[str, tf.Tensor]):
  """Mirrors a sample: dense maps, flow x, and the pose (module docstring)."""
  return ({k: _flip(k, v) for k, v in inputs.items()},
          {k: _flip(k, v) for k, v in labels.items()})


def _flip(key, x):
  if key == "trans":
    return x * tf.constant([-1.0, 1.0, 1.0], x.dtype)
  if key == "rot":
    return x * tf.constant([1.0, -1.0, -1.0], x.dtype)
  if len(x.shape) < 2:
    return x
  x = tf.reverse(x, axis=[1])
  if key in FLOW_KEYS or key in NORMAL_KEYS:  # x components change sign
    c = x.shape[-1]
    x = x * tf.constant([-1.0, 1.0] + [1.0] * (c - 2), x.dtype)
  return x


def scale_crop(inputs, labels, scale, offset, inverse_depth: bool = False):
  """Zooms in by `scale` ≥ 1 around `offset`, keeping every map's size.

  The MTAN recipe (Liu et al., CVPR 2019, RandomScaleCrop): crop a window of
  1/scale of each side at relative position `offset` ∈ [0, 1]² and resize it
  back, so shapes stay static. Each map is cropped with the same normalised
  box, so maps at other resolutions (the half-resolution flow label) stay
  aligned. Zooming by s makes the scene look s times closer: depth /= s
  (inverse depth *= s); flow displacements *= s.

  Args:
    inputs, labels: dicts of tensors keyed as in the module docstring.
    scale: scalar ≥ 1.
    offset: [2] in [0, 1] (y, x) position of the window.
    inverse_depth: the `depth` key holds 1/depth (the MTAN .npy layout).
  """
  scale = tf.cast(scale, tf.float32)
  extent = 1.0 / scale
  y0 = offset[0] * (1.0 - extent)
  x0 = offset[1] * (1.0 - extent)
  box = tf.reshape(tf.stack([y0, x0, y0 + extent, x0 + extent]), [1, 4])

  def one(key, x):
    if len(x.shape) < 2:
      return x
    squeeze = len(x.shape) == 2
    y = x[..., None] if squeeze else x
    size = tf.shape(y)[:2]
    method = "bilinear" if key in IMAGE_KEYS else "nearest"
    out = tf.image.crop_and_resize(tf.cast(y, tf.float32)[None], box, [0],
                                   size, method=method)[0]
    if key in DEPTH_KEYS:
      out = out * scale if inverse_depth else out / scale
    if key in FLOW_KEYS:
      out = _scale_flow(out, scale)
    out = tf.cast(out, y.dtype)
    out = tf.ensure_shape(out, y.shape)
    return out[..., 0] if squeeze else out

  return ({k: one(k, v) for k, v in inputs.items()},
          {k: one(k, v) for k, v in labels.items()})


def augment(inputs, labels, seed, *, flip: bool = True,
            max_scale: float = 1.0, inverse_depth: bool = False):
  """Seeded joint augmentation: random zoom-crop, then random flip.

  Stateless: the same `seed` gives the same result eagerly and in tf.data.

  Args:
    inputs, labels: one sample (no batch axis).
    seed: int [2] tensor.
    flip: mirror with probability 1/2.
    max_scale: zoom factor drawn from U[1, max_scale]; 1 disables cropping.
    inverse_depth: passed to `scale_crop`.
  """
  seeds = tf.random.experimental.stateless_split(
      tf.cast(seed, tf.int64), 3)
  if max_scale > 1.0:
    s = tf.random.stateless_uniform([], seeds[0], 1.0, max_scale)
    off = tf.random.stateless_uniform([2], seeds[1])
    inputs, labels = scale_crop(inputs, labels, s, off, inverse_depth)
  if flip:
    coin = tf.random.stateless_uniform([], seeds[2]) < 0.5
    flipped = flip_left_right(inputs, labels)
    inputs, labels = tf.nest.map_structure(
        lambda a, b: tf.where(coin, a, b), flipped, (inputs, labels))
  return inputs, labels


# ----------------------------------------------------------------- dataset


def make_dataset(records: Dict[str, np.ndarray],
                 decode: Callable, batch_size: int, *,
                 augment_fn: Optional[Callable] = None,
                 shuffle: bool = False, repeat: bool = False,
                 seed: Optional[int] = None, drop_remainder: bool = True,
                 input_context: Optional[tf.distribute.InputContext] = None,
                 cache: bool = False, shuffle_buffer: int = 1024,
                 what: str = "split",
                 weights: Optional[Dict[str, np.ndarray]] = None
                 ) -> tf.data.Dataset:
  """Builds the batched tf.data pipeline over `records` (one row a sample).

  Args:
    records: {field: [N] array} (paths, floats), one row per example.
    decode: row -> (inputs, labels); must be graph friendly.
    batch_size: global batch size; divided per replica by `input_context`.
    augment_fn: (inputs, labels, seed [2]) -> (inputs, labels); the seed is
      (seed, running example index), so runs are reproducible and every
      epoch draws new augmentations.
    shuffle, repeat, seed, drop_remainder, input_context: as
      `tfmtl.data.source` (the source protocol).
    cache: keep decoded examples in memory (before augmentation). Without a
      cache the file list is shuffled (cheap); with one, decoded examples are
      shuffled in a buffer of `shuffle_buffer`.
    what: names the split in errors.
    weights: {task: [N] sample weights} (0 = label hidden): the elements
      become (inputs, labels, {task: weight}), carried with their example
      through shuffling, caching and augmentation.
  """
  n = len(next(iter(records.values())))
  if weights:
    records, decode = _with_weights(records, decode, weights)
  if n == 0:
    raise UserError(f"{what} is empty: no examples found")
  seed = 0 if seed is None else int(seed)
  ds = tf.data.Dataset.from_tensor_slices(records)
  if input_context is not None:
    ds = ds.shard(input_context.num_input_pipelines,
                  input_context.input_pipeline_id)
    batch_size = input_context.get_per_replica_batch_size(batch_size)
  if shuffle and not cache:
    ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
  ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
  if cache:
    ds = ds.cache()
    if shuffle:
      ds = ds.shuffle(min(n, shuffle_buffer), seed=seed,
                      reshuffle_each_iteration=True)
  if repeat:
    ds = ds.repeat()
  if augment_fn is not None:
    ds = _augmented(ds, augment_fn, seed)
  ds = ds.batch(batch_size, drop_remainder=drop_remainder)
  return ds.prefetch(tf.data.AUTOTUNE)


def _with_weights(records, decode, weights):
  """Records and decode that carry {task: weight} as a third element."""
  records = dict(records, **{f"_weight/{t}": np.asarray(w, np.float32)
                             for t, w in weights.items()})

  def weighted(row):
    return (*decode(row), {t: row[f"_weight/{t}"] for t in weights})

  return records, weighted


def _augmented(ds, augment_fn, seed):
  """Augments each element with the seed (seed, running example index), so
  runs reproduce and every epoch draws new augmentations."""
  return ds.enumerate().map(
      lambda i, xy: (*augment_fn(xy[0], xy[1], tf.stack(
          [tf.constant(seed, tf.int64), i])), *xy[2:]),
      num_parallel_calls=tf.data.AUTOTUNE)


def find_undecodable(records: Dict[str, np.ndarray]) -> Optional[str]:
  """The first PNG named in `records` that does not decode, or None.

  tf.data's decode error names no file; this eager scan (run only once an
  error has happened) finds it. Slow on a large split, but only on failure.
  """
  for values in records.values():
    if np.asarray(values).dtype.kind not in "SUO":
      continue
    for value in values:
      path = as_str(value)
      if not path.endswith(".png") or not os.path.exists(path):
        continue
      try:
        tf.io.decode_png(tf.io.read_file(path), dtype=tf.uint16)
      except (tf.errors.InvalidArgumentError, tf.errors.DataLossError):
        return path
  return None


def explain_decode_error(source, error: Exception) -> Optional[UserError]:
  """A UserError naming the file behind a tf.data decode `error`, if the
  source can list its files (`records`) and one of them is bad."""
  records = getattr(source, "records", None)
  if records is None or "PNG" not in str(error):
    return None
  for split in SPLIT_ORDER:
    try:
      rows = records(split)
    except UserError:
      continue
    path = find_undecodable(rows)
    if path:
      return UserError(f"{path}: corrupt PNG data (it does not decode); "
                       "re-extract or regenerate it")
  return None


SPLIT_ORDER = ("train", "val", "test")


class RecordSource:
  """The `dataset` of a reader built on `records(split)` + `decode(row)`.

  Subclasses provide `records(split)` (dict of per-example arrays), `decode`,
  `augment_fn(inputs, labels, seed)`, the attributes `augment`, `cache` and
  `root`, and `what` (a name for messages).
  """

  what = "dataset"
  # {task: fraction of train examples whose label is kept}; set by sources
  # that take `label_fraction` (see `hidden_labels`).
  label_fraction: Optional[Dict[str, float]] = None
  label_seed: int = 0
  # Keep only the train examples that have every label of label_fraction
  # (instead of weighting the others 0).
  drop_unlabelled: bool = False

  def hidden_labels(self, split: str) -> Optional[Dict[str, np.ndarray]]:
    """{task: [N] 0/1 weights} hiding labels of the train split, or None.

    Deterministic per example (a draw from (label_seed, task's position),
    indexed by the example's row in the sorted file list): the same examples
    are unlabelled in every epoch and every run. Other splits keep every
    label (evaluation).
    """
    if not self.label_fraction or split != "train":
      return None
    n = len(next(iter(self.records(split).values())))
    out = {}
    for i, task in enumerate(sorted(self.label_fraction)):
      fraction = float(self.label_fraction[task])
      if task not in self.task_names or not 0.0 <= fraction <= 1.0:
        raise UserError(
            f"label_fraction {{{task!r}: {fraction}}}: give tasks of this "
            f"source ({self.task_names}) with fractions in [0, 1]")
      draw = np.random.default_rng([self.label_seed, i]).random(n)
      out[task] = (draw < fraction).astype(np.float32)
    return out

  def _kept(self, split: str):
    """(rows, weights) of a split after `label_fraction`: with
    `drop_unlabelled`, the train rows that have every label and no
    weights; otherwise every row and the 0/1 weights (or None)."""
    rows, hidden = self.records(split), self.hidden_labels(split)
    if hidden is None or not self.drop_unlabelled:
      return rows, hidden
    keep = np.flatnonzero(np.all(np.stack(list(hidden.values())), axis=0))
    if not len(keep):
      raise UserError(f"label_fraction {self.label_fraction} with "
                      "drop_unlabelled leaves no train example: raise the "
                      "fractions")
    return {k: np.asarray(v)[keep] for k, v in rows.items()}, None

  def num_examples(self, split: str) -> int:
    return len(next(iter(self._kept(split)[0].values())))

  def dataset(self, split: str, batch_size: int, *, shuffle: bool = False,
              repeat: bool = False, seed=None, drop_remainder: bool = True,
              input_context=None):
    rows, weights = self._kept(split)
    aug = self.augment_fn if (self.augment and split == "train") else None
    return make_dataset(
        rows, self.decode, batch_size, augment_fn=aug, shuffle=shuffle,
        repeat=repeat, seed=seed, drop_remainder=drop_remainder,
        input_context=input_context, cache=self.cache,
        what=f"{self.what} split {split!r} under {self.root}",
        weights=weights)
