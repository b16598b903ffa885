"""Cityscapes raw layout: label schemes, depth, masks, flow, bad files."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.data import cityscapes
from tfmtl.data.cityscapes import CityscapesSource, to_train_ids
from tfmtl.errors import UserError

from tests.helpers import CONFIDENCE_RTOL, FLOW_PNG_SLACK, assert_on_grid

H, W = 16, 32
BASELINE, FX = 0.2, 2000.0


def write_tiny(root, n=2, split="train", seed=0, flow=True, flow_ext=".png"):
  """n examples of 16×32 in the official layout; returns what was written."""
  rng = np.random.default_rng(seed)
  out = []
  for i in range(n):
    ex = dict(
        image=rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
        label_ids=rng.integers(0, 34, (H, W), dtype=np.uint8),
        disparity=rng.integers(0, 30000, (H, W), dtype=np.uint16),
        motion=rng.choice(np.array([0, 1, 255], np.uint8), (H, W)),
        flow=np.concatenate([rng.normal(0, 5, (H, W, 2)),
                             rng.uniform(0, 1, (H, W, 1))],
                            -1).astype(np.float32) if flow else None)
    ex["disparity"][0, :3] = (0, 1, 257)  # invalid, d = 0, d = 1 px
    cityscapes.write_example(root, split, "aachen", f"aachen_000000_{i:06d}",
                             baseline=BASELINE, fx=FX, flow_ext=flow_ext,
                             **ex)
    out.append(ex)
  return out


# Cityscapes label table (cityscapesScripts helpers/labels.py): id -> (trainId,
# catId). Written out here independently of the module's grouping.
OFFICIAL = {
    0: (255, 0), 1: (255, 0), 2: (255, 0), 3: (255, 0), 4: (255, 0),
    5: (255, 0), 6: (255, 0), 7: (0, 1), 8: (1, 1), 9: (255, 1),
    10: (255, 1), 11: (2, 2), 12: (3, 2), 13: (4, 2), 14: (255, 2),
    15: (255, 2), 16: (255, 2), 17: (5, 3), 18: (255, 3), 19: (6, 3),
    20: (7, 3), 21: (8, 4), 22: (9, 4), 23: (10, 5), 24: (11, 6),
    25: (12, 6), 26: (13, 7), 27: (14, 7), 28: (15, 7), 29: (255, 7),
    30: (255, 7), 31: (16, 7), 32: (17, 7), 33: (18, 7)}


def test_label_schemes_match_the_official_table():
  ids = np.arange(256, dtype=np.uint8)
  t19, t7, t5 = (to_train_ids(ids, s) for s in ("19", "7", "5"))
  for lid in range(256):
    train_id, cat = OFFICIAL.get(lid, (255, 0))
    assert t19[lid] == train_id, lid
    assert t7[lid] == (255 if cat == 0 else cat - 1), lid
  # Seed 001's 5 classes: road, sky, pedestrian, vehicle, background.
  assert t5[7] == 0 and t5[23] == 1 and t5[24] == t5[25] == 2
  assert all(t5[i] == 3 for i in range(26, 34))
  assert all(t5[i] == 4 for i in range(8, 23))
  assert all(t5[i] == 255 for i in list(range(7)) + [34, 200, 255])
  # TF gives the same as numpy.
  for s in ("19", "7", "5"):
    np.testing.assert_array_equal(
        to_train_ids(tf.constant(ids), s).numpy(), to_train_ids(ids, s))


def test_depth_from_disparity_hand_values():
  p = np.array([0, 1, 257, 513, 2561], np.uint16)
  # d = (p − 1)/256 = [invalid, 0, 1, 2, 10] px; depth = 0.2·2000/d.
  want = np.array([0, 0, 400, 200, 40], np.float32)
  np.testing.assert_allclose(
      cityscapes.depth_from_disparity(p, BASELINE * FX), want)
  np.testing.assert_allclose(
      cityscapes.depth_from_disparity(tf.constant(p), BASELINE * FX), want)


@pytest.mark.parametrize("flow_ext", [".png", ".npy"])
def test_source_reads_layout(tmp_path, flow_ext):
  exs = write_tiny(tmp_path, flow_ext=flow_ext)
  src = CityscapesSource(tmp_path, scheme="7",
                         tasks=("semantic", "depth", "motion"),
                         with_flow=True, augment=False)
  x, y = next(iter(src.dataset("train", 2)))
  assert x["image"].shape == (2, H, W, 3) and x["image"].dtype == tf.float32
  assert x["flow"].shape == (2, H, W, 3)
  assert y["semantic"].shape == (2, H, W) and y["depth"].shape == (2, H, W, 1)
  ex = exs[0]
  np.testing.assert_allclose(x["image"][0].numpy(), ex["image"] / 255.0,
                             atol=1e-6)
  np.testing.assert_array_equal(y["semantic"][0],
                                to_train_ids(ex["label_ids"], "7"))
  np.testing.assert_allclose(
      y["depth"][0, ..., 0],
      cityscapes.depth_from_disparity(ex["disparity"], BASELINE * FX),
      rtol=1e-6)
  assert np.all(y["depth"][0, 0, :2] == 0)  # p = 0 and p = 1 masked
  np.testing.assert_allclose(y["depth"][0, 0, 2], 400.0)
  np.testing.assert_array_equal(y["motion"][0], ex["motion"])
  if flow_ext == ".npy":
    np.testing.assert_array_equal(x["flow"][0], ex["flow"])
  else:  # the 16-bit PNG keeps 1/64 px and 1/65535 of confidence
    assert_on_grid(x["flow"][0, ..., :2], ex["flow"][..., :2], 1 / 64,
                   FLOW_PNG_SLACK)
    assert_on_grid(x["flow"][0, ..., 2], ex["flow"][..., 2], 1 / 65535,
                   FLOW_PNG_SLACK, rtol=CONFIDENCE_RTOL)


def test_resize_and_augment_keep_static_shapes(tmp_path):
  write_tiny(tmp_path, n=3)
  src = CityscapesSource(tmp_path, height=8, width=16, max_scale=1.5)
  ds = src.dataset("train", 2, shuffle=True, repeat=True, seed=1)
  assert ds.element_spec[0]["image"].shape == (2, 8, 16, 3)
  x, y = next(iter(ds))
  assert y["semantic"].dtype == tf.int32
  vals = set(np.unique(y["semantic"].numpy()))
  assert vals <= set(range(19)) | {255}  # nearest: never a blended label


def test_eager_equals_tf_data(tmp_path):
  write_tiny(tmp_path, n=2)
  src = CityscapesSource(tmp_path, tasks=("semantic", "depth"),
                         height=8, width=16, max_scale=1.3)
  row = {k: v[1] for k, v in src.records("train").items()}
  seed = tf.constant([3, 1], tf.int64)
  eager = src.augment_fn(*src.decode(row), seed)
  ds = tf.data.Dataset.from_tensors(row).map(src.decode).map(
      lambda x, y: src.augment_fn(x, y, seed))
  graph = next(iter(ds))
  tf.nest.map_structure(
      lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), eager, graph)


def test_sharding(tmp_path, mirrored):
  write_tiny(tmp_path, n=2, flow=False)
  src = CityscapesSource(tmp_path, augment=False)
  dist = mirrored.distribute_datasets_from_function(
      lambda ctx: src.dataset("train", 2, input_context=ctx))
  x, _ = next(iter(dist))
  parts = mirrored.experimental_local_results(x["image"])
  assert [p.shape[0] for p in parts] == [1, 1]


def test_bad_data_names_the_file(tmp_path):
  write_tiny(tmp_path, n=2, flow=False)
  lbl = tmp_path / "gtFine/train/aachen/aachen_000000_000001_gtFine_labelIds.png"
  os.remove(lbl)
  with pytest.raises(UserError, match="missing semantic.*000001"):
    CityscapesSource(tmp_path).records("train")
  write_tiny(tmp_path, n=2, flow=False)
  img = tmp_path / "leftImg8bit/train/aachen/aachen_000000_000000_leftImg8bit.png"
  img.write_bytes(img.read_bytes()[:50])
  with pytest.raises(UserError, match="000000_leftImg8bit.png.*corrupt"):
    CityscapesSource(tmp_path).records("train")
  write_tiny(tmp_path, n=2, flow=False)
  import cv2
  disp = tmp_path / "disparity/train/aachen/aachen_000000_000000_disparity.png"
  cv2.imwrite(str(disp), np.zeros((H, W), np.uint8))
  with pytest.raises(UserError, match="000000_disparity.png.*16-bit"):
    CityscapesSource(tmp_path).records("train")
  with pytest.raises(UserError, match="'val' is empty"):
    CityscapesSource(tmp_path).records("val")
  write_tiny(tmp_path, n=2, flow=False)
  with pytest.raises(UserError, match="no flow input.*000000"):
    CityscapesSource(tmp_path, with_flow=True).records("train")
