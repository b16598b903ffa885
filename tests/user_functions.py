"""A user's own module, reached by name from configs in the tests
("tests.user_functions:bad_loss"): functions that raise, empty data. It
imports nothing of train.py (a train.py subprocess imports it too)."""

import numpy as np
import tensorflow as tf


def bad_loss(y_true, y_pred):
  raise ValueError("labels must be positive")


def mse(y_true, y_pred):
  return tf.reduce_mean(tf.math.squared_difference(y_true, y_pred), -1)


def bad_model(task_names):
  raise ValueError("no such layer size")


def bad_data():
  raise KeyError("root")


def split(n, dim=1, tasks=("y1", "y2")):
  """n examples of 3 inputs and a label of `dim` values a task."""
  x = np.zeros([n, 3], np.float32)
  y = {t: np.zeros([n, dim], np.float32) for t in tasks}
  return tf.data.Dataset.from_tensor_slices((x, y))


def empty_test_data():
  return {"train": split(64), "test": split(0)}


def wide_labels():  # labels of 3 values a task
  return {"train": split(64, 3), "test": split(8, 3)}
