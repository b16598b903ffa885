"""Segmentation metrics against a confusion matrix worked out by hand."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.errors import UserError
from tfmtl.metrics import segmentation

# Hand-computed case (C = 4): pixel 4 is ignored (255), so its prediction 3 is
# never counted and class 3 is in neither label nor prediction.
# Labelled pairs (label, pred): (0,0) (0,1) (1,1) (1,1) (2,0) (0,0) (1,2) ->
#   C = [[2,1,0,0],[0,2,1,0],[1,0,0,0],[0,0,0,0]]
#   IoU_0 = 2/(3+3-2) = .5, IoU_1 = 2/(3+3-2) = .5, IoU_2 = 0/(1+1-0) = 0,
#   IoU_3 = NaN (left out) -> mIoU = 1/3; pixel accuracy = 4/7.
Y_TRUE = np.array([[0, 0, 1, 1], [255, 2, 0, 1]])
Y_PRED = np.array([[0, 1, 1, 1], [3, 0, 0, 2]])
CM = np.array([[2, 1, 0, 0], [0, 2, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]])


def test_confusion_matrix_by_hand():
  cm = segmentation.confusion_matrix(Y_TRUE, Y_PRED, 4)
  np.testing.assert_array_equal(cm.numpy(), CM)


def test_mean_iou_ignore_label_and_absent_class():
  miou, iou = segmentation.mean_iou(Y_TRUE, Y_PRED, 4)
  np.testing.assert_allclose(iou[:3], [0.5, 0.5, 0.0])
  assert np.isnan(iou[3])
  assert miou == pytest.approx(1 / 3)
  assert segmentation.pixel_accuracy(Y_TRUE, Y_PRED, 4) == pytest.approx(4 / 7)


def test_logits_are_argmaxed_and_labels_may_have_channel_axis():
  logits = tf.one_hot(Y_PRED, 4) * 5.0 - 1.0
  miou, _ = segmentation.mean_iou(Y_TRUE[..., None], logits, 4)
  assert miou == pytest.approx(1 / 3)


def test_negative_labels_are_void():
  y_true = np.array([0, -1, 1])
  y_pred = np.array([0, 1, 1])
  miou, iou = segmentation.mean_iou(y_true, y_pred, 2)
  assert miou == 1.0 and list(iou) == [1.0, 1.0]


def test_streaming_equals_one_shot():
  metric = segmentation.SegmentationMetric(4, class_names="abcd")
  metric.update_state(Y_TRUE[:1], Y_PRED[:1])
  metric.update_state(Y_TRUE[1:], Y_PRED[1:])
  out = metric.result()
  assert float(out["miou"]) == pytest.approx(1 / 3)
  assert float(out["pixel_accuracy"]) == pytest.approx(4 / 7)
  assert float(out["iou/b"]) == pytest.approx(0.5)
  metric.reset_state()
  assert np.isnan(float(metric.result()["miou"]))


def test_class_names_must_match():
  with pytest.raises(UserError, match="class_names"):
    segmentation.SegmentationMetric(3, class_names=["a"])


def test_mirrored_update_equals_single_device(mirrored):
  rng = np.random.default_rng(0)
  y_true = rng.integers(0, 3, (4, 5, 6)).astype(np.int32)
  y_true[0, :2] = 255
  logits = rng.normal(size=(4, 5, 6, 3)).astype(np.float32)

  single = segmentation.SegmentationMetric(3)
  single.update_state(y_true, logits)

  with mirrored.scope():
    dist = segmentation.SegmentationMetric(3)
  data = mirrored.experimental_distribute_dataset(
      tf.data.Dataset.from_tensor_slices((y_true, logits)).batch(4))

  @tf.function
  def update(batch):
    mirrored.run(dist.update_state, args=batch)

  for batch in data:
    update(batch)
  np.testing.assert_array_equal(
      tf.convert_to_tensor(dist.confusion).numpy(), single.confusion.numpy())
  assert float(dist.result()["miou"]) == pytest.approx(
      float(single.result()["miou"]))
