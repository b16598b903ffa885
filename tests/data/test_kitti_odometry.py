"""KITTI odometry: pose conventions, re-integration, the reader, bad files."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.data import kitti_odometry as ko
from tfmtl.errors import UserError

from tests.helpers import FLOW_PNG_SLACK, assert_on_grid

H, W = 16, 32


def trajectory(n, seed=0):
  """A random smooth drive: absolute [n, 3, 4] poses starting at identity."""
  rng = np.random.default_rng(seed)
  rel = np.concatenate([rng.normal(0, 0.3, (n - 1, 3)) + [0, 0, 1.0],
                        rng.normal(0, 0.05, (n - 1, 3))], -1)
  return ko.integrate(rel), rel


def write_seq(root, seq, n=3, seed=0, flow_ext=".png"):
  rng = np.random.default_rng(seed)
  frames = rng.integers(0, 256, (n, H, W, 3), dtype=np.uint8)
  poses, rel = trajectory(n, seed)
  flows = rng.uniform(-5, 5, (n - 1, H, W, 2)).astype(np.float32)
  ko.write_sequence(root, seq, frames, poses, flows, flow_ext)
  return frames, rel, flows


def test_euler_round_trip_and_convention():
  e = np.random.default_rng(1).uniform(-1.2, 1.2, (50, 3))
  np.testing.assert_allclose(ko.euler_from_matrix(ko.matrix_from_euler(e)),
                             e, atol=1e-12)
  # A pure rotation about y (KITTI's yaw axis: y points down) is β.
  r = ko.matrix_from_euler(np.array([[0.0, 0.3, 0.0]]))[0]
  np.testing.assert_allclose(r, [[np.cos(.3), 0, np.sin(.3)], [0, 1, 0],
                                 [-np.sin(.3), 0, np.cos(.3)]], atol=1e-12)


def test_relative_poses_reintegrate():
  poses, rel = trajectory(20, seed=3)
  got = ko.relative_poses(poses)
  np.testing.assert_allclose(got, rel, atol=1e-9)
  np.testing.assert_allclose(ko.integrate(got), poses, atol=1e-9)
  # From the 12-values-per-line form too, and from a non-identity start.
  np.testing.assert_allclose(
      ko.integrate(ko.relative_poses(poses[5:].reshape(-1, 12)),
                   start=poses[5]), poses[5:], atol=1e-9)


@pytest.mark.parametrize("flow_ext", [".png", ".flo", ".npy"])
def test_source_pairs_and_labels(tmp_path, flow_ext):
  frames, rel, flows = write_seq(tmp_path, "00", n=3, flow_ext=flow_ext)
  src = ko.KittiOdometrySource(tmp_path, height=H, width=W,
                               sequences=["00"], augment=False)
  scale = rel.max(0) - rel.min(0)
  np.testing.assert_allclose(src.label_scale, scale, rtol=1e-6)
  x, y = next(iter(src.dataset("train", 2)))
  assert x["frames"].shape == (2, H, W, 6)
  assert y["flow"].shape == (2, H // 2, W // 2, 2)
  np.testing.assert_allclose(x["frames"][1, ..., :3], frames[1] / 255.0,
                             atol=1e-6)
  np.testing.assert_allclose(x["frames"][1, ..., 3:], frames[2] / 255.0,
                             atol=1e-6)
  np.testing.assert_allclose(y["trans"] * scale[:3], rel[:, :3], atol=1e-5)
  np.testing.assert_allclose(y["rot"] * scale[3:], rel[:, 3:], atol=1e-5)
  # Nearest halving (half-pixel centres) keeps pixels (2i+1, 2j+1), halves
  # the displacements (exactly: a halving in float32), of the flow as
  # stored (the PNG on the 1/64 grid).
  kept, got = flows[0][1::2, 1::2], 2 * np.asarray(y["flow"][0])
  if flow_ext == ".png":
    assert_on_grid(got, kept, 1 / 64, FLOW_PNG_SLACK)
  else:
    np.testing.assert_array_equal(got, kept)


def test_reference_split_and_scale_from_train(tmp_path):
  for i, seq in enumerate(["00", "05"]):
    write_seq(tmp_path, seq, n=3, seed=i)
  src = ko.KittiOdometrySource(tmp_path, height=H, width=W, with_flow=False,
                               split={"train": ["00"], "val": ["05"]})
  rel0 = ko.relative_poses(ko.read_poses(tmp_path / "poses/00.txt"))
  np.testing.assert_allclose(src.label_scale, rel0.max(0) - rel0.min(0),
                             rtol=1e-6)
  assert len(src.records("val")["first"]) == 2
  assert ko.REFERENCE_SPLIT["train"] == ("00", "01", "02", "03", "06", "08",
                                         "09")


def test_flip_augmentation_mirrors_pose(tmp_path):
  write_seq(tmp_path, "00", n=3)
  src = ko.KittiOdometrySource(tmp_path, height=H, width=W,
                               sequences=["00"], augment=True)
  row = {k: v[0] for k, v in src.records("train").items()}
  x, y = src.decode(row)
  for s in range(8):  # some seeds flip, some don't; each is one or the other
    xa, ya = src.augment_fn(x, y, tf.constant([s, 0], tf.int64))
    flipped = not np.allclose(xa["frames"], x["frames"])
    sign = np.array([-1, 1, 1]) if flipped else 1
    np.testing.assert_allclose(ya["trans"], y["trans"] * sign)
    np.testing.assert_allclose(
        ya["rot"], y["rot"] * (np.array([1, -1, -1]) if flipped else 1))


def test_bad_data_names_the_file(tmp_path):
  write_seq(tmp_path, "00", n=3)
  pf = tmp_path / "poses/00.txt"
  lines = pf.read_text().splitlines()
  pf.write_text("\n".join([lines[0], " ".join(lines[1].split()[:11]),
                           lines[2]]) + "\n")
  with pytest.raises(UserError, match=r"00.txt:2: .*12 numbers.*found 11"):
    ko.KittiOdometrySource(tmp_path, sequences=["00"]).records("train")
  pf.write_text("\n".join(lines[:2]) + "\n")
  with pytest.raises(UserError, match="00.txt: 2 poses for 3 frames"):
    ko.KittiOdometrySource(tmp_path, sequences=["00"],
                           label_scale=[1] * 6).records("train")
  write_seq(tmp_path, "00", n=3)
  (tmp_path / "flow/00/000001.png").unlink()
  with pytest.raises(UserError, match="missing flow label for .*000001.png"):
    ko.KittiOdometrySource(tmp_path, sequences=["00"]).records("train")
  with pytest.raises(UserError, match="sequence 04: no frames"):
    ko.KittiOdometrySource(tmp_path, sequences={"test": ["04"]},
                           label_scale=[1] * 6).records("test")


def _all_flows(src, split="train"):
  return np.concatenate([y["flow"].numpy() for _, y in src.dataset(
      split, 1, drop_remainder=False)])


def test_flow_range_from_train_maps_labels_to_unit_interval(tmp_path):
  write_seq(tmp_path, "00", n=4)
  raw = ko.KittiOdometrySource(tmp_path, height=H, width=W,
                               sequences=["00"], augment=False)
  unit = ko.KittiOdometrySource(tmp_path, height=H, width=W,
                                sequences=["00"], augment=False,
                                flow_range="train")
  pixels = _all_flows(raw)
  labels = _all_flows(unit)
  lo, hi = pixels.min(axis=(0, 1, 2)), pixels.max(axis=(0, 1, 2))
  np.testing.assert_allclose(unit.flow_range, [lo, hi], rtol=1e-6)
  np.testing.assert_allclose(labels.min(axis=(0, 1, 2)), 0.0, atol=1e-6)
  np.testing.assert_allclose(labels.max(axis=(0, 1, 2)), 1.0, atol=1e-6)
  np.testing.assert_allclose(unit.flow_to_pixels(labels), pixels, atol=1e-5)
  # With flips the horizontal range is symmetric: a mirrored label fits too.
  flipping = ko.KittiOdometrySource(tmp_path, height=H, width=W,
                                    sequences=["00"], flow_range="train")
  r = flipping.flow_range
  np.testing.assert_allclose(r[0, 0], -r[1, 0])
  assert r[0, 0] <= lo[0] and r[1, 0] >= hi[0]


def test_flow_range_given_and_refused(tmp_path):
  write_seq(tmp_path, "00", n=3)
  src = ko.KittiOdometrySource(tmp_path, height=H, width=W, sequences=["00"],
                               augment=False, flow_range=(-4, 4))
  np.testing.assert_allclose(src.flow_range, [[-4, -4], [4, 4]])
  np.testing.assert_allclose(src.flow_to_pixels(np.array([0.5, 1.0])),
                             [0.0, 4.0])
  per_channel = ko.KittiOdometrySource(
      tmp_path, height=H, width=W, sequences=["00"],
      flow_range=((-4, 4), (-1, 2)))
  np.testing.assert_allclose(per_channel.flow_range, [[-4, -1], [4, 2]])
  for bad in ((1, 1), "auto", (1, 2, 3)):
    with pytest.raises(UserError, match="flow_range"):
      ko.KittiOdometrySource(tmp_path, height=H, width=W, sequences=["00"],
                             flow_range=bad)
