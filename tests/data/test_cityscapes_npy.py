"""MTAN's preprocessed Cityscapes .npy layout."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.data.cityscapes_npy import CityscapesNpySource
from tfmtl.errors import UserError

H, W = 16, 32


def write_npy(root, split="train", n=2, classes=7, seed=0):
  """The MTAN layout: image [H, W, 3], label [H, W] (−1 void), depth [H, W, 1]."""
  rng = np.random.default_rng(seed)
  out = []
  for i in range(n):
    ex = {"image": rng.uniform(size=(H, W, 3)).astype(np.float32),
          "label": rng.integers(-1, classes, (H, W)).astype(np.float32),
          "depth": rng.uniform(0, 0.1, (H, W, 1)).astype(np.float32)}
    for k, v in ex.items():
      (root / split / k).mkdir(parents=True, exist_ok=True)
      np.save(root / split / k / f"{i}.npy", v)
    out.append(ex)
  return out


def test_reads_layout_and_maps_void(tmp_path):
  exs = write_npy(tmp_path, n=3)
  src = CityscapesNpySource(tmp_path, num_classes=7, augment=False)
  x, y = next(iter(src.dataset("train", 3)))
  assert x["image"].shape == (3, H, W, 3)
  assert y["semantic"].shape == (3, H, W) and y["semantic"].dtype == tf.int32
  assert y["depth"].shape == (3, H, W, 1)
  for i, ex in enumerate(exs):
    np.testing.assert_array_equal(x["image"][i], ex["image"])
    want = np.where(ex["label"] < 0, 255, ex["label"]).astype(np.int32)
    np.testing.assert_array_equal(y["semantic"][i], want)
    np.testing.assert_array_equal(y["depth"][i], ex["depth"])  # inverse, as is


def test_zoom_scales_inverse_depth_up(tmp_path):
  write_npy(tmp_path, n=1)
  src = CityscapesNpySource(tmp_path, max_scale=1.5)
  row = {k: v[0] for k, v in src.records("train").items()}
  x, y = src.decode(row)
  from tfmtl.data import pipeline
  _, y2 = pipeline.scale_crop(x, y, 2.0, tf.constant([0.0, 0.0]),
                              inverse_depth=True)
  # Zoom 2 about the top-left with nearest sampling: every output pixel is
  # a top-left-quadrant input pixel, and inverse depth doubles (the scene
  # looks 2× closer).
  src_vals = y["depth"].numpy()[:H // 2 + 1, :W // 2 + 1].ravel()
  out = y2["depth"].numpy().ravel() / 2
  assert np.all(np.min(np.abs(out[:, None] - src_vals[None]), 1) < 1e-7)


def test_bad_files(tmp_path):
  write_npy(tmp_path, n=2)
  (tmp_path / "train/label/1.npy").unlink()
  with pytest.raises(UserError, match="missing label for .*1.npy"):
    CityscapesNpySource(tmp_path).records("train")
  with pytest.raises(UserError, match="'val' is empty"):
    CityscapesNpySource(tmp_path).records("val")
  write_npy(tmp_path, n=2)
  p = tmp_path / "train/depth/0.npy"
  p.write_bytes(p.read_bytes()[:-7])
  with pytest.raises(UserError, match="0.npy: truncated"):
    CityscapesNpySource(tmp_path).records("train")
