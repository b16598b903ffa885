"""Motion mIoU: the two-class segmentation metric."""

import numpy as np
import pytest

from tfmtl.metrics import motion


def test_static_moving_miou_by_hand():
  # pairs (label, pred): (0,0) (0,1) (1,1) (255,0 ignored) (0,0)
  # static: tp 2, denom 3+2-2 = 3 -> 2/3; moving: tp 1, denom 1+2-1 = 2 -> 1/2
  y_true = np.array([0, 0, 1, 255, 0])
  y_pred = np.array([0, 1, 1, 0, 0])
  miou, iou = motion.mean_iou(y_true, y_pred)
  np.testing.assert_allclose(iou, [2 / 3, 1 / 2])
  assert miou == pytest.approx(7 / 12)
  metric = motion.MotionMetric()
  metric.update_state(y_true, y_pred)
  out = metric.result()
  assert float(out["miou"]) == pytest.approx(7 / 12)
  assert float(out["iou/moving"]) == pytest.approx(0.5)


def test_no_moving_pixels_anywhere_leaves_class_out():
  miou, iou = motion.mean_iou(np.zeros(4, int), np.zeros(4, int))
  assert miou == 1.0 and np.isnan(iou[1])
