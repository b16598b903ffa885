"""sum and mean: the configured task weights, summed or averaged."""

import numpy as np
import tensorflow as tf

from tfmtl import aggregation
from tfmtl.tasks import Task


def test_weighted_sum_and_mean():
  J = np.array([[1.0, -2.0], [3.0, 0.5], [-1.0, 4.0]], np.float32)
  w = np.array([2.0, 0.5, 1.5], np.float32)
  tasks = [Task(n, lambda y, p: p, weight=float(x)) for n, x in zip("abc", w)]
  for name, want in (("sum", w @ J), ("mean", w @ J / 3)):
    method = aggregation.get(name)
    method.build(tasks)
    np.testing.assert_allclose(method(tf.constant(J)), want, rtol=1e-6)
    unbuilt = aggregation.get(name)  # no tasks: weights 1
    np.testing.assert_allclose(unbuilt(tf.constant(J)),
                               J.sum(0) / (3 if name == "mean" else 1),
                               rtol=1e-6)
