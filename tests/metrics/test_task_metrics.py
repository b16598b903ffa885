"""A task's metrics by kind, against values computed by hand."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.metrics.task_metrics import TaskMetrics, headline_of
from tfmtl.tasks import Task


def _auc(y, s):
  """P(score of a positive > score of a negative), ties half."""
  pos, neg = s[y == 1], s[y == 0]
  return np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])


def test_binary_accuracy_and_auc_per_label_over_labelled_examples():
  rng = np.random.default_rng(0)
  y = rng.integers(0, 2, size=(40, 2)).astype(np.float32)
  logits = (rng.normal(size=(40, 2)) + 1.5 * (y - 0.5)).astype(np.float32)
  w = np.ones(40, np.float32)
  w[:10] = 0.0  # unlabelled: count for nothing, whatever their labels say
  y[:10] = 1.0 - y[:10]
  m = TaskMetrics(Task("b", "bce"), "binary", (None, 2))
  for i in (0, 20):  # two batches
    m.update(tf.constant(y[i:i + 20]), tf.constant(logits[i:i + 20]),
             tf.constant(w[i:i + 20]))
  got = m.result()
  keep = w > 0
  hit = (logits[keep] > 0) == (y[keep] > 0.5)
  assert got["accuracy"] == pytest.approx(hit.mean(), abs=1e-6)
  assert got["accuracy/1"] == pytest.approx(hit[:, 1].mean(), abs=1e-6)
  aucs = [_auc(y[keep][:, k], logits[keep][:, k]) for k in range(2)]
  # Keras' AUC interpolates over 500 thresholds: |error| ≲ 1/500 · a few.
  assert got["auc/0"] == pytest.approx(aucs[0], abs=0.02)
  assert got["auc/1"] == pytest.approx(aucs[1], abs=0.02)
  assert got["auc"] == pytest.approx(np.mean(aucs), abs=0.02)
  assert aucs[0] != pytest.approx(aucs[1], abs=0.05)  # labels differ
  bce = np.mean(np.maximum(logits, 0) - logits * y +
                np.log1p(np.exp(-np.abs(logits))), axis=1)
  assert got["loss"] == pytest.approx(bce[keep].mean(), rel=1e-5)


def test_probabilities_are_thresholded_at_one_half():
  m = TaskMetrics(Task("b", "bce", family="binary_probs"), "binary",
                  (None, 1))
  m.update(tf.constant([[1.0], [0.0], [1.0]]),
           tf.constant([[0.6], [0.4], [0.3]]))
  assert m.result()["accuracy"] == pytest.approx(2 / 3)


def test_classification_accuracy_and_top5():
  rng = np.random.default_rng(1)
  logits = np.stack([rng.permutation(8) for _ in range(30)]).astype(
      np.float32)  # distinct scores: no ties in the top 5
  labels = rng.integers(0, 8, size=30)
  m = TaskMetrics(Task("c", "sparse_ce"), "classification", (None, 8))
  m.update(tf.constant(labels[:13]), tf.constant(logits[:13]))
  m.update(tf.constant(labels[13:]), tf.constant(logits[13:]))
  got = m.result()
  rank = np.argsort(-logits, axis=1)
  assert got["accuracy"] == pytest.approx(np.mean(rank[:, 0] == labels))
  top5 = np.mean([labels[i] in rank[i, :5] for i in range(30)])
  assert got["top5_accuracy"] == pytest.approx(top5)
  assert 0 < got["accuracy"] < got["top5_accuracy"] < 1


def test_regression_mae_rmse_and_weights():
  y = np.array([[1.0], [2.0], [3.0]], np.float32)
  p = np.array([[2.0], [2.0], [7.0]], np.float32)
  m = TaskMetrics(Task("r", "mse"), "regression", (None, 1))
  m.update(tf.constant(y), tf.constant(p), tf.constant([1.0, 1.0, 0.0]))
  got = m.result()
  assert got["mae"] == pytest.approx(0.5)
  assert got["mse"] == pytest.approx(0.5)
  assert got["rmse"] == pytest.approx(np.sqrt(0.5))


def test_no_labelled_example_is_nan_not_zero():
  m = TaskMetrics(Task("r", "mse"), "regression", (None, 1))
  m.update(tf.ones([2, 1]), tf.zeros([2, 1]), tf.zeros([2]))
  assert np.isnan(m.result()["mae"])


def test_segmentation_skips_unlabelled_examples():
  labels = np.array([[[0, 1]], [[1, 1]]])          # [2, 1, 2]
  logits = np.eye(2, dtype=np.float32)[[[[1, 1]], [[1, 1]]]]  # 1s
  m = TaskMetrics(Task("s", "sparse_ce"), "segmentation", (None, 1, 2, 2))
  m.update(tf.constant(labels), tf.constant(logits), tf.constant([1.0, 0.0]))
  got = m.result()
  assert got["pixel_accuracy"] == pytest.approx(0.5)  # example 0 only


def test_headline_from_the_kind_or_from_the_metrics():
  assert headline_of({"accuracy": 0.9, "auc": 0.8, "loss": 1}, "binary") == {
      "accuracy": 0.9, "auc": 0.8}
  assert headline_of({"accuracy": 0.9, "loss": 1}, None) == {"accuracy": 0.9}
  assert headline_of({"miou": 0.5, "pixel_accuracy": 0.8}, None) == {
      "miou": 0.5, "pixel_accuracy": 0.8}
  assert headline_of({"miou": 0.5, "pixel_accuracy": 0.8}, "motion") == {
      "miou": 0.5}
