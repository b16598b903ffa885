"""MTAN's preprocessed NYUv2 .npy layout: four kinds, normals and flips."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl import data
from tfmtl.data import pipeline
from tfmtl.data.nyuv2_npy import NYUv2NpySource
from tfmtl.errors import UserError

H, W = 12, 16


def write_nyu(root, split="train", n=2, seed=0):
  """image [H, W, 3], label [H, W] (13 classes, −1 void), depth [H, W, 1]
  in metres, normal [H, W, 3] unit (a few zero = invalid)."""
  rng = np.random.default_rng(seed)
  out = []
  for i in range(n):
    normal = rng.normal(size=(H, W, 3))
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    normal[0, :3] = 0
    ex = {"image": rng.uniform(size=(H, W, 3)).astype(np.float32),
          "label": rng.integers(-1, 13, (H, W)).astype(np.float32),
          "depth": rng.uniform(0.5, 10, (H, W, 1)).astype(np.float32),
          "normal": normal.astype(np.float32)}
    for k, v in ex.items():
      (root / split / k).mkdir(parents=True, exist_ok=True)
      np.save(root / split / k / f"{i}.npy", v)
    out.append(ex)
  return out


def test_reads_the_four_kinds(tmp_path):
  exs = write_nyu(tmp_path, n=3)
  src = data.get("nyuv2_npy", root=str(tmp_path), augment=False)
  assert src.task_names == ["semantic", "depth", "normal"]
  x, y = next(iter(src.dataset("train", 3)))
  assert y["normal"].shape == (3, H, W, 3)
  for i, ex in enumerate(exs):
    np.testing.assert_array_equal(x["image"][i], ex["image"])
    want = np.where(ex["label"] < 0, 255, ex["label"]).astype(np.int32)
    np.testing.assert_array_equal(y["semantic"][i], want)
    np.testing.assert_array_equal(y["depth"][i], ex["depth"])
    np.testing.assert_array_equal(y["normal"][i], ex["normal"])


def test_normal_only_and_the_val_folder_as_test(tmp_path):
  write_nyu(tmp_path, n=1)
  exs = write_nyu(tmp_path, "val", n=2, seed=5)
  src = NYUv2NpySource(tmp_path, tasks=("normal",), augment=False)
  _, y = next(iter(src.dataset("test", 2)))
  assert sorted(y) == ["normal"]
  np.testing.assert_array_equal(y["normal"][1], exs[1]["normal"])


def test_flip_negates_normal_x_and_zoom_keeps_normals(tmp_path):
  write_nyu(tmp_path, n=1)
  src = NYUv2NpySource(tmp_path)
  row = {k: v[0] for k, v in src.records("train").items()}
  x, y = src.decode(row)
  _, flipped = pipeline.flip_left_right(x, y)
  n = y["normal"].numpy()
  np.testing.assert_array_equal(flipped["normal"].numpy(),
                                n[:, ::-1] * np.array([-1, 1, 1], np.float32))
  # Zoom 2 about the top-left: depth in metres halves (the scene looks 2×
  # closer), normals are nearest samples of the top-left quadrant.
  _, zoomed = pipeline.scale_crop(x, y, 2.0, tf.constant([0.0, 0.0]))
  quadrant = n[:H // 2 + 1, :W // 2 + 1].reshape(-1, 3)
  for v in zoomed["normal"].numpy().reshape(-1, 3):
    assert np.min(np.abs(quadrant - v).sum(1)) < 1e-7
  depths = y["depth"].numpy()[:H // 2 + 1, :W // 2 + 1].ravel()
  out = zoomed["depth"].numpy().ravel() * 2
  assert np.all(np.min(np.abs(out[:, None] - depths[None]), 1) < 1e-5)


def test_augmented_normals_stay_unit_or_invalid(tmp_path):
  write_nyu(tmp_path, n=2)
  src = NYUv2NpySource(tmp_path, max_scale=1.5)
  _, y = next(iter(src.dataset("train", 2, shuffle=True, seed=3)))
  norms = np.linalg.norm(y["normal"].numpy(), axis=-1)
  assert np.all((np.abs(norms - 1) < 1e-5) | (norms == 0))


def test_bad_layouts(tmp_path):
  with pytest.raises(UserError, match="NYUv2 npy root"):
    NYUv2NpySource(tmp_path / "nowhere")
  write_nyu(tmp_path, n=2)
  (tmp_path / "train/normal/1.npy").unlink()
  with pytest.raises(UserError, match="missing normal for .*1.npy"):
    NYUv2NpySource(tmp_path).records("train")
  np.save(tmp_path / "train/normal/1.npy", np.zeros((H, W, 3), np.float32))
  np.save(tmp_path / "train/normal/0.npy", np.zeros((H, W, 2), np.float32))
  with pytest.raises(UserError, match="differs from the other normal"):
    NYUv2NpySource(tmp_path).records("train")
  for i in range(2):
    np.save(tmp_path / f"train/normal/{i}.npy",
            np.zeros((H, W, 2), np.float32))
  with pytest.raises(UserError, match=r"normal files are \(12, 16, 2\)"):
    NYUv2NpySource(tmp_path).records("train")
  with pytest.raises(UserError, match="choose from semantic, depth, normal"):
    NYUv2NpySource(tmp_path, tasks=("flow",))
