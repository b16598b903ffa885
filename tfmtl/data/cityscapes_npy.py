"""Preprocessed Cityscapes of the MTAN code (Liu, Johns, Davison, CVPR 2019).

Layout under `root` (what the MTAN repository's download and seed 002 use):

  {train,val}/image/{i}.npy    float32 [128, 256, 3] RGB in [0, 1]
  {train,val}/label/{i}.npy    float [128, 256], class ids 0..C−1 (C = 7 or
                               19), −1 for void
  {train,val}/depth/{i}.npy    float32 [128, 256, 1] inverse depth as stored,
                               0 = invalid

Labels come out as int32 with void → 255 (tfmtl's ignore label); depth
stays inverse depth ("depth" task, 0 = invalid, as the masked losses
expect). MTAN evaluates on its val folder; here "test" reads `test_dir`
(default "val", the same folder), so MTAN's numbers are comparable.

Files are decoded inside the graph: the .npy header of each file is parsed
once in Python (dtype, shape, header length; every file of a kind must
agree), then the body is `tf.io.decode_raw` of the bytes after it.
"""

import ast
import glob
import os
import re
from typing import Dict

import numpy as np
import tensorflow as tf

from tfmtl.data import pipeline
from tfmtl.data.source import SPLITS
from tfmtl.errors import UserError

KINDS = ("image", "label", "depth")
TASK_OF = {"label": "semantic", "depth": "depth"}


def npy_header(path):
  """(offset, dtype, shape) of a .npy file, from its header only."""
  try:
    with open(path, "rb") as f:
      magic = f.read(8)
      if magic[:6] != b"\x93NUMPY":
        raise UserError(f"{path}: not a .npy file (corrupt or wrong format)")
      if magic[6] == 1:
        hlen = int.from_bytes(f.read(2), "little")
        offset = 10 + hlen
      else:
        hlen = int.from_bytes(f.read(4), "little")
        offset = 12 + hlen
      header = ast.literal_eval(f.read(hlen).decode("latin1"))
      f.seek(0, os.SEEK_END)
      size = f.tell()
  except OSError:
    raise UserError(f"{path}: file not found or unreadable") from None
  except (ValueError, SyntaxError, IndexError):
    raise UserError(f"{path}: corrupt .npy header") from None
  dtype = np.dtype(header["descr"])
  shape = tuple(header["shape"])
  if header.get("fortran_order") or dtype.hasobject:
    raise UserError(f"{path}: .npy must be C-ordered numbers")
  if size - offset != int(np.prod(shape)) * dtype.itemsize:
    raise UserError(f"{path}: truncated .npy ({size - offset} bytes of data "
                    f"for shape {shape} {dtype})")
  return offset, dtype, shape


class CityscapesNpySource(pipeline.RecordSource):
  """The MTAN preprocessed Cityscapes (semantic + inverse depth).

  Args:
    root: folder with train/ and val/.
    num_classes: 7 or 19 (which preprocessed release).
    tasks: subset of ("semantic", "depth").
    augment: MTAN's random zoom-crop (up to `max_scale`) and flip on train.
    max_scale: largest zoom (MTAN: 1.5).
    cache: keep decoded examples in memory.
    test_dir: the folder read for split "test".
  """

  what = "Cityscapes npy"
  # What subclasses for other releases in this layout change (nyuv2_npy).
  task_of = TASK_OF
  class_counts = (7, 19)
  inverse_depth = True

  def __init__(self, root: str, num_classes: int = 7,
               tasks=("semantic", "depth"), augment: bool = True,
               max_scale: float = 1.5, cache: bool = False,
               test_dir: str = "val"):
    self.root = os.path.expanduser(str(root))
    if not os.path.isdir(self.root):
      raise UserError(f"Cityscapes npy root {self.root!r} does not exist")
    if int(num_classes) not in self.class_counts:
      raise UserError(f"num_classes must be one of {self.class_counts}, got "
                      f"{num_classes}")
    bad = [t for t in tasks if t not in self.task_of.values()]
    if bad or not tasks:
      raise UserError(f"unknown tasks {bad}; choose from "
                      f"{', '.join(self.task_of.values())}")
    self.num_classes = int(num_classes)
    self.tasks = tuple(tasks)
    self.augment = augment
    self.max_scale = float(max_scale)
    self.cache = cache
    self.dirs = {"train": "train", "val": "val", "test": test_dir}
    self._records = {}
    self._format = {}

  @property
  def task_names(self):
    return list(self.tasks)

  def records(self, split: str) -> Dict[str, np.ndarray]:
    """Checked file lists of a split: one row per index i."""
    if split in self._records:
      return self._records[split]
    if split not in SPLITS:
      raise UserError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    folder = os.path.join(self.root, self.dirs[split])
    images = glob.glob(os.path.join(folder, "image", "*.npy"))
    images = sorted((p for p in images
                     if re.fullmatch(r"\d+\.npy", os.path.basename(p))),
                    key=lambda p: int(os.path.basename(p)[:-4]))
    if not images:
      raise UserError(f"split {split!r} is empty: no {folder}/image/{{i}}.npy")
    kinds = ["image"] + [k for k in self.task_of
                         if self.task_of[k] in self.tasks]
    rows = {k: [] for k in kinds}
    for img in images:
      name = os.path.basename(img)
      for k in kinds:
        path = os.path.join(folder, k, name)
        if not os.path.exists(path):
          raise UserError(f"missing {k} for {img}: expected {path}")
        fmt = npy_header(path)
        seen = self._format.setdefault(k, fmt)
        if fmt != seen:
          raise UserError(f"{path}: {fmt[1]} {fmt[2]} differs from the other "
                          f"{k} files ({seen[1]} {seen[2]})")
        rows[k].append(path)
    self._check_shapes(images[0])
    out = {k: np.array(v) for k, v in rows.items()}
    self._records[split] = out
    return out

  def _check_shapes(self, first):
    shape = self._format["image"][2]
    if len(shape) != 3 or shape[-1] != 3:
      raise UserError(f"{first}: image must be [H, W, 3], got {shape}")
    want = {"label": (shape[:2],), "depth": (shape[:2] + (1,), shape[:2])}
    for k, ok in want.items():
      if k in self._format and self._format[k][2] not in ok:
        raise UserError(f"{k} files are {self._format[k][2]}, expected "
                        f"{ok[0]} to match the images {shape}")

  def _read(self, kind, path):
    offset, dtype, shape = self._format[kind]
    raw = tf.strings.substr(tf.io.read_file(path), offset, -1)
    x = tf.io.decode_raw(raw, tf.as_dtype(dtype.newbyteorder("=")),
                         little_endian=dtype.byteorder != ">")
    return tf.reshape(x, shape)

  def decode(self, row):
    """One row -> ({"image"}, {"semantic", "depth"}); graph friendly."""
    image = tf.cast(self._read("image", row["image"]), tf.float32)
    labels = {}
    if "semantic" in self.tasks:
      lab = tf.cast(tf.round(tf.cast(self._read("label", row["label"]),
                                     tf.float32)), tf.int32)
      labels["semantic"] = tf.where(lab < 0, 255, lab)
    if "depth" in self.tasks:
      d = tf.cast(self._read("depth", row["depth"]), tf.float32)
      labels["depth"] = tf.reshape(d, tf.concat([tf.shape(image)[:2], [1]],
                                                0))
      labels["depth"] = tf.ensure_shape(labels["depth"],
                                        image.shape[:2] + [1])
    return {"image": image}, labels

  def augment_fn(self, inputs, labels, seed):
    return pipeline.augment(inputs, labels, seed, flip=True,
                            max_scale=self.max_scale,
                            inverse_depth=self.inverse_depth)

