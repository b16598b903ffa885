"""evaluation: flow EPE is reported in pixels whatever the label units."""

import numpy as np
import pytest
import tensorflow as tf

from tests.data.test_kitti_odometry import H, W, write_seq
from tfmtl import evaluation, losses
from tfmtl.data import kitti_odometry as ko
from tfmtl.models.pose_flow import PoseFlowNet
from tfmtl.tasks import Task


def test_flow_epe_and_pictures_are_in_pixels_with_normalised_labels(
    tmp_path):
  write_seq(tmp_path, "00", n=5)
  kwargs = dict(height=H, width=W, sequences=["00"], augment=False)
  raw = ko.KittiOdometrySource(tmp_path, **kwargs)
  unit = ko.KittiOdometrySource(tmp_path, flow_range=(-6, 4), **kwargs)
  model = PoseFlowNet(task_names=["flow"], width=0.0625, seed=1)
  model({"frames": tf.zeros([1, H, W, 6])})
  shown = []
  results = evaluation.evaluate(
      model, [Task("flow", losses.flow_log_rmse)], unit, "train", 2,
      on_batch=lambda x, y, out: shown.append((y["flow"], out["flow"])))
  # The model's outputs are in label units, read through the loss's clip:
  # clip(p, 0, 1)·(4 − (−6)) − 6 pixels.
  per_example, labels_px, preds_px = [], [], []
  for x, y in raw.dataset("train", 2, drop_remainder=False):
    p = np.clip(model(x)["flow"].numpy(), 0, 1) * 10.0 - 6.0
    labels_px.append(y["flow"].numpy())
    preds_px.append(p)
    per_example += list(np.mean(np.linalg.norm(p - y["flow"].numpy(),
                                               axis=-1), axis=(1, 2)))
  np.testing.assert_allclose(results["flow"]["epe"], np.mean(per_example),
                             rtol=1e-5)
  # Pictures get pixels too.
  for (label, pred), want_label, want_pred in zip(shown, labels_px,
                                                  preds_px):
    np.testing.assert_allclose(label.numpy(), want_label, atol=1e-5)
    np.testing.assert_allclose(pred.numpy(), want_pred, atol=1e-4)


def test_raw_pixel_sources_are_left_alone(tmp_path):
  write_seq(tmp_path, "00", n=3)
  raw = ko.KittiOdometrySource(tmp_path, height=H, width=W,
                               sequences=["00"], augment=False)
  flow = np.array([[-3.0, 7.0]], np.float32)
  np.testing.assert_array_equal(raw.flow_to_pixels(flow, prediction=True),
                                flow)
  labels, outputs = evaluation.in_pixels(raw, {"flow": flow}, {"flow": flow})
  np.testing.assert_array_equal(outputs["flow"], flow)


def test_classification_accuracy_and_its_delta_m_direction():
  from tfmtl.data.source import ArraySource  # pylint: disable=g-import-not-at-top
  x = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0, 1]]  # logits = inputs
  labels = {"left": np.array([0, 1, 2, 0, 0, 3])}  # 4 of 6 right
  src = ArraySource(x, labels, splits=(1.0, 0.0, 0.0))
  model = lambda inputs, training=False: {"left": inputs}  # noqa: E731
  results = evaluation.evaluate(
      model, [Task("left", losses.sparse_ce)], src, "train", 4,
      eval_metrics={"left": "classification"})
  assert results["left"]["accuracy"] == pytest.approx(4 / 6)
  assert evaluation.headline(results, {"left": "classification"}) == {
      "left": {"accuracy": pytest.approx(4 / 6)}}
  # Higher accuracy is better: 0.9 against a 0.8 baseline is +12.5 %.
  assert evaluation.delta_m({"left": {"accuracy": 0.9}},
                            {"left": {"accuracy": 0.8}},
                            {"left": "classification"}) == pytest.approx(12.5)


def test_normal_task_gets_the_angle_metrics(tmp_path):
  from tests.data.test_nyuv2_npy import write_nyu  # pylint: disable=g-import-not-at-top
  from tfmtl.data.nyuv2_npy import NYUv2NpySource  # pylint: disable=g-import-not-at-top
  from tfmtl.metrics import normal_errors  # pylint: disable=g-import-not-at-top
  exs = write_nyu(tmp_path, "val", n=3)
  src = NYUv2NpySource(tmp_path, tasks=("normal",), augment=False)
  # A "model" predicting the image's RGB as the normal.
  model = lambda x, training=False: {"normal": x["image"] - 0.5}  # noqa: E731
  results = evaluation.evaluate(model, [Task("normal", losses.normal)], src,
                                "test", 2)
  want = normal_errors(np.stack([e["normal"] for e in exs]),
                       np.stack([e["image"] - 0.5 for e in exs]))
  got = results["normal"]
  assert got["mean_angle"] == pytest.approx(want["mean_angle"], rel=1e-5)
  assert abs(got["median_angle"] - want["median_angle"]) <= 0.01
  assert got["within_30"] == pytest.approx(want["within_30"])
  assert set(evaluation.headline(results)["normal"]) == {
      "mean_angle", "median_angle", "within_11.25", "within_22.5",
      "within_30"}
