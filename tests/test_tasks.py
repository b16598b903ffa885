"""tfmtl.tasks.Task: a loss by name or object, its family, a default KPI."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import losses, tasks
from tfmtl.errors import UserError
from tfmtl.tasks import Task


def test_a_loss_by_name_or_keras_object_is_per_example():
  t = Task("c", "sparse_ce")
  assert t.loss is losses.sparse_ce and t.family == "categorical"
  k = Task("r", keras.losses.MeanAbsoluteError())
  assert k.family == "regression"
  np.testing.assert_allclose(k.loss(tf.ones([3, 2]), tf.zeros([3, 2])),
                             [1.0, 1.0, 1.0])


def test_classification_and_binary_tasks_get_accuracy_as_kpi():
  """DTP reads Task.kpi: without one given, a cross-entropy task's is its
  accuracy on the batch (ignore ids left out); a regression has none."""
  logits = tf.constant([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 1.0]])
  ids = tf.constant([0, 0, 255, 1])  # 2 of the 3 labelled ones right
  assert float(Task("c", "sparse_ce").kpi(ids, logits)) == pytest.approx(2 / 3)
  b = Task("b", "bce").kpi(tf.constant([[1.0], [0.0], [1.0]]),
                           tf.constant([[0.5], [0.2], [-1.0]]))
  assert float(b) == pytest.approx(1 / 3)
  probs = Task("p", keras.losses.BinaryCrossentropy()).kpi(
      tf.constant([[1.0], [0.0]]), tf.constant([[0.6], [0.4]]))
  assert float(probs) == pytest.approx(1.0)
  assert Task("r", "mse").kpi is None


def test_bad_tasks_are_refused():
  with pytest.raises(UserError, match="weight -1 must be a finite number"):
    Task("a", "mse", weight=-1)
  with pytest.raises(UserError, match="unknown loss 'nope'"):
    Task("a", "nope")
  with pytest.raises(UserError, match="kind 'accuracy' is not a kind"):
    Task("a", "mse", kind="accuracy")
  with pytest.raises(UserError, match="config.tasks.a.loss: unknown loss"):
    tasks.from_config({"a": {"loss": "msee"}})
