"""Pictures: palettes, colour maps, flow wheel, grid, PNG, TensorBoard."""

import os

import cv2
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import visualize
from tfmtl.errors import UserError
from tfmtl.metrics import odometry


def test_cityscapes_palette_and_ignore_is_black():
  labels = np.array([[0, 13, 255], [10, -1, 18]])
  rgb = visualize.colorize_labels(labels, 19)
  assert rgb.dtype == np.uint8 and rgb.shape == (2, 3, 3)
  # cityscapesScripts labels.py: road, car, sky, bicycle
  assert tuple(rgb[0, 0]) == (128, 64, 128)
  assert tuple(rgb[0, 1]) == (0, 0, 142)
  assert tuple(rgb[1, 0]) == (70, 130, 180)
  assert tuple(rgb[1, 2]) == (119, 11, 32)
  assert tuple(rgb[0, 2]) == (0, 0, 0) and tuple(rgb[1, 1]) == (0, 0, 0)
  five = visualize.colorize_labels(np.array([[0, 1, 2, 3, 4]]), 5)
  assert len({tuple(c) for c in five[0]}) == 5
  assert visualize.palette(7).shape == (7, 3)
  assert visualize.palette(3).shape == (3, 3)  # tab20 fallback


def test_depth_colour_map_invalid_black_and_monotone():
  d = np.array([[0.0, 5.0, 10.0, 20.0, 40.0, np.nan]])
  rgb = visualize.depth_to_rgb(d, vmin=5, vmax=40)
  assert tuple(rgb[0, 0]) == (0, 0, 0) and tuple(rgb[0, 5]) == (0, 0, 0)
  # magma_r: near is bright, far is dark.
  lum = rgb[0, 1:5].astype(float).sum(-1)
  assert np.all(np.diff(lum) < 0)


def test_motion_overlay_tints_only_moving():
  img = np.full((2, 2, 3), 0.5, np.float32)
  motion = np.array([[0, 1], [255, 0]])
  out = visualize.motion_overlay(img, motion, color=(255, 0, 0), alpha=0.5)
  assert tuple(out[0, 0]) == (128, 128, 128)
  assert tuple(out[0, 1]) == (192, 64, 64)
  assert out[1, 0].max() < 128  # ignore is darkened


def test_flow_wheel_properties():
  flow = np.array([[[0.0, 0.0], [-2.0, 0.0], [-1.0, 0.0], [-4.0, 0.0],
                    [np.nan, 0.0]]])
  rgb = visualize.flow_to_rgb(flow, max_flow=2.0)
  assert tuple(rgb[0, 0]) == (255, 255, 255)  # no motion: white
  # Leftward at full magnitude: a = 0, k = 27 of 55, the CB segment's third
  # entry (0, 255 - floor(255*2/11), 255) = (0, 209, 255).
  assert tuple(rgb[0, 1]) == (0, 209, 255)
  # Half magnitude: same hue, half saturated: 255 - 0.5 * (255 - c).
  np.testing.assert_allclose(rgb[0, 2], [127, 232, 255], atol=1)
  # Beyond max_flow: darkened by 0.75.
  np.testing.assert_allclose(rgb[0, 3], np.floor(0.75 * rgb[0, 1]), atol=1)
  assert tuple(rgb[0, 4]) == (0, 0, 0)  # unknown flow
  # Rightward is red (the wheel starts at red).
  right = visualize.flow_to_rgb(np.array([[[1.0, 0.0]]]))
  assert right[0, 0, 0] == 255 and right[0, 0, 2] < 60
  with pytest.raises(UserError, match="flow"):
    visualize.flow_to_rgb(np.zeros((3, 3)))


def _example_rows(rng, h=24, w=40):
  image = rng.uniform(size=(h, w, 3)).astype(np.float32)
  sem = rng.integers(0, 5, (h, w))
  sem[:3] = 255
  depth = rng.uniform(3, 80, (h, w, 1)).astype(np.float32)
  depth[:, :4] = 0
  motion = (rng.uniform(size=(h, w)) > 0.7).astype(np.int32)
  flow = rng.normal(size=(h // 2, w // 2, 2)) * 3
  return [
      visualize.task_row("semantic", image, sem, rng.normal(
          size=(h, w, 5)).astype(np.float32), num_classes=5),
      visualize.task_row("depth", image, depth, depth * 1.1),
      visualize.task_row("motion", image, motion,
                         rng.normal(size=(h, w, 2)).astype(np.float32)),
      visualize.task_row("flow", image, flow, flow * 0.5),
  ]


def test_grid_png_round_trip(tmp_path):
  rows = _example_rows(np.random.default_rng(0))
  g = visualize.grid(rows, pad=2)
  # 4 rows x 3 columns of 24 x 40 cells (flow resized up), 2 px padding.
  assert g.dtype == np.uint8 and g.shape == (2 + 4 * 26, 2 + 3 * 42, 3)
  path = visualize.save_png(os.path.join(tmp_path, "sub", "grid.png"), g)
  back = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
  np.testing.assert_array_equal(back, g)
  with pytest.raises(UserError, match="task"):
    visualize.task_row("normals", rows[0][0], None, None)


def test_trajectory_plot(tmp_path):
  rng = np.random.default_rng(0)
  trans = np.tile([0.0, 0.0, 1.0], (50, 1))
  rot = np.tile([0.0, 0.02, 0.0], (50, 1))
  gt = odometry.integrate(trans, rot)
  pred = odometry.integrate(trans * 1.05, rot + rng.normal(0, 0.005, rot.shape))
  img = visualize.trajectory_plot(gt, pred, path=str(tmp_path / "traj.png"),
                                  title="t_err 5%", size=3, dpi=60)
  assert img.shape == (180, 180, 3) and img.dtype == np.uint8
  assert os.path.getsize(tmp_path / "traj.png") > 1000
  # both curves are drawn: pure red and pure blue pixels exist
  assert np.any(np.all(img == (255, 0, 0), -1))
  assert np.any(np.all(img == (0, 0, 255), -1))


def test_image_summary(tmp_path):
  g = visualize.grid([[np.zeros((4, 4, 3)), np.ones((4, 4))]])
  assert not visualize.image_summary("pictures", g, step=0)  # no writer
  writer = tf.summary.create_file_writer(str(tmp_path))
  with writer.as_default():
    assert visualize.image_summary("pictures", g, step=1)
  writer.flush()
  assert any(n.startswith("events") for n in os.listdir(tmp_path))
