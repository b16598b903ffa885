"""Procedural scenes on disk: each layout's files hold the generated sample."""

import hashlib
import json
import os

import cv2
import numpy as np
import pytest

from tfmtl.data import flow_io, scenes
from tfmtl.data.scenes import writers
from tfmtl.errors import UserError

from tests.helpers import FLOW_PNG_SLACK, assert_on_grid

H, W = 48, 96


def _tree_digest(root):
  h = hashlib.sha256()
  for d, _, files in sorted(os.walk(root)):
    for f in sorted(files):
      p = os.path.join(d, f)
      h.update(os.path.relpath(p, root).encode())
      with open(p, "rb") as fh:
        h.update(fh.read())
  return h.hexdigest()


@pytest.fixture(scope="module")
def written(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("scenes"))
  scenes.write_dataset(root, 4, H, W, seed=3, kitti_sequences=2,
                       splits=(("train", 0.5), ("val", 0.5)))
  return root


def test_write_is_byte_deterministic(written, tmp_path):
  scenes.write_dataset(str(tmp_path), 4, H, W, seed=3, kitti_sequences=2,
                       splits=(("train", 0.5), ("val", 0.5)), workers=2)
  assert _tree_digest(written) == _tree_digest(str(tmp_path))


def test_cityscapes_layout_and_depth_from_disparity_png(written):
  root = os.path.join(written, "cityscapes")
  stem = "synth00_000000_000019"
  base = os.path.join("train", "synth00", stem)
  s = scenes.generate_sample(np.random.default_rng(
      writers.sample_seed(3, 0, 0)), H, W, step=-1)
  img = cv2.imread(os.path.join(root, "leftImg8bit", base +
                                "_leftImg8bit.png"))[..., ::-1]
  np.testing.assert_array_equal(img, s["image1"])
  prev = cv2.imread(os.path.join(
      root, "leftImg8bit_sequence", "train", "synth00",
      "synth00_000000_000018_leftImg8bit.png"))[..., ::-1]
  np.testing.assert_array_equal(prev, s["image2"])
  labels = cv2.imread(os.path.join(root, "gtFine", base +
                                   "_gtFine_labelIds.png"),
                      cv2.IMREAD_UNCHANGED)
  assert labels.dtype == np.uint8
  np.testing.assert_array_equal(labels, s["semantic"])
  motion = cv2.imread(os.path.join(root, "gtFine", base +
                                   "_gtFine_motion.png"),
                      cv2.IMREAD_UNCHANGED)
  np.testing.assert_array_equal(motion, s["motion"])
  p = cv2.imread(os.path.join(root, "disparity", base + "_disparity.png"),
                 cv2.IMREAD_UNCHANGED)
  assert p.dtype == np.uint16
  with open(os.path.join(root, "camera", base + "_camera.json")) as f:
    cam = json.load(f)
  valid = p > 0
  np.testing.assert_array_equal(valid, s["depth"] > 0)
  # p = round(256·d) + 1 exactly (256·d is exact in float32), so the
  # decoding of DESIGN.md §5 gives d on the 1/256 grid.
  d = (p[valid].astype(float) - 1) / 256
  assert_on_grid(d, s["disparity"][valid], 1 / 256)
  depth = cam["extrinsic"]["baseline"] * cam["intrinsic"]["fx"] / d
  near = s["depth"][valid] < 20
  np.testing.assert_allclose(depth[near], s["depth"][valid][near], rtol=0.02)
  flow, fvalid = flow_io.read_flow(os.path.join(root, "gtFine", base +
                                                "_gtFine_flow.png"))
  np.testing.assert_array_equal(fvalid, s["flow_valid"])
  assert_on_grid(flow[fvalid], s["flow"][fvalid], 1 / 64, FLOW_PNG_SLACK)
  assert os.path.exists(os.path.join(
      root, "leftImg8bit_flow_farneback_confidence", base + "_flow.png"))
  assert os.path.exists(os.path.join(root, "gtFine", "val", "synth00",
                                     "synth00_000000_000019_"
                                     "gtFine_labelIds.png"))


def test_kitti_poses_match_the_generators_motion(written):
  root = os.path.join(written, "kitti")
  frames = list(scenes.generate_sequence(np.random.default_rng(
      writers.sample_seed(3, 1, 0)), 2, H, W))
  rows = [list(map(float, line.split()))
          for line in open(os.path.join(root, "poses", "00.txt"))]
  assert len(rows) == 2 and all(len(r) == 12 for r in rows)
  poses = [np.vstack([np.reshape(r, (3, 4)), [0, 0, 0, 1]]) for r in rows]
  np.testing.assert_allclose(poses[0], np.eye(4), atol=1e-9)
  rel = np.linalg.inv(poses[0]) @ poses[1]
  want = np.linalg.inv(frames[0]["pose_c2w"]) @ frames[1]["pose_c2w"]
  np.testing.assert_allclose(rel, want, atol=1e-6)
  assert want[2, 3] > 0.3  # Driving forward.
  img = cv2.imread(os.path.join(root, "sequences", "00", "image_2",
                                "000001.png"))[..., ::-1]
  np.testing.assert_array_equal(img, frames[1]["image"])
  flow, valid = flow_io.read_flow(os.path.join(root, "flow", "00",
                                               "000000.png"))
  assert_on_grid(flow[valid], frames[0]["flow"][valid], 1 / 64,
                 FLOW_PNG_SLACK)
  calib = open(os.path.join(root, "sequences", "00", "calib.txt")).read()
  p2 = [l for l in calib.splitlines() if l.startswith("P2:")][0]
  assert len(p2.split()) == 13
  assert len(open(os.path.join(root, "sequences", "00",
                               "times.txt")).read().split()) == 2


def test_nyuv2_layout_reads_back_with_exact_normals(tmp_path):
  from tfmtl.data.nyuv2_npy import NYUv2NpySource  # pylint: disable=g-import-not-at-top
  scenes.write_dataset(str(tmp_path), 3, H, W, seed=2, layouts=("nyuv2",),
                       splits=(("train", 2 / 3), ("test", 1 / 3)))
  s = scenes.generate_sample(np.random.default_rng(
      writers.sample_seed(2, 2, 2)), H, W, step=-1)  # index 2 = test/0
  src = NYUv2NpySource(tmp_path / "nyuv2", augment=False, test_dir="test")
  x, y = next(iter(src.dataset("test", 1)))
  np.testing.assert_allclose(x["image"][0], s["image1"] / 255.0, atol=1e-6)
  np.testing.assert_array_equal(y["depth"][0, ..., 0], s["depth"])
  np.testing.assert_array_equal(y["normal"][0], s["normal"])
  names = np.array(scenes.NYU_CLASSES)[y["semantic"][0].numpy()]
  ids = np.vectorize(scenes.LABEL_IDS.get)(names)
  np.testing.assert_array_equal(ids, s["semantic"])
  assert src.num_examples("train") == 2


def test_bad_arguments_are_user_errors(tmp_path):
  with pytest.raises(UserError, match="layouts"):
    scenes.write_dataset(str(tmp_path), 1, H, W, layouts=("coco",))
  with pytest.raises(UserError, match="focal_scale"):
    scenes.write_dataset(str(tmp_path), 1, 8, 8, focal_scale=0.0)


def test_the_package_keeps_the_single_modules_names():
  # Code written when this package was one module still reaches for these.
  for name in ("LABEL_IDS", "NYU_CLASSES", "BASELINE", "FOCAL_PER_WIDTH",
               "CITYSCAPES_FRAME", "SAMPLES_PER_CITY", "KITTI_SPLITS",
               "generate_sample", "generate_sequence", "write_dataset",
               "main", "euler_from_matrix", "disparity_to_png",
               "camera_json", "kitti_calib", "_rot_x", "_rot_y", "_rot_z"):
    assert hasattr(scenes, name), name
  assert scenes._sample_seed is writers.sample_seed
