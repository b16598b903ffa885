"""ATG: main tasks and auxiliary tasks enter with their configured weights."""

import numpy as np
import tensorflow as tf

from tfmtl import aggregation, losses
from tfmtl.tasks import Task


def test_atg_is_weighted_sum_over_main_and_aux():
  tasks = [Task("trans", losses.l1, 1.0, "main"),
           Task("rot", losses.l1, 10.0, "main"),
           Task("flow", losses.flow_log_rmse, 0.1, "aux")]
  # float64: a weighted sum is exact to round-off there (in float32 an
  # element where the terms cancel is off by more than rtol 1e-6). The
  # configured weights are held in float32 (0.1 is 0.1 + 1.5e-9).
  j = np.random.default_rng(0).normal(size=(3, 7))
  J = tf.constant(j, tf.float64)
  atg = aggregation.get("atg")
  atg.build(tasks)
  want = j[0] + 10.0 * j[1] + float(np.float32(0.1)) * j[2]
  np.testing.assert_allclose(atg(J), want, rtol=1e-12)
  np.testing.assert_allclose(tf.function(atg)(J), want, rtol=1e-12)
  np.testing.assert_array_equal(atg.weights_for(J), np.float32([1, 10, 0.1]))
  assert not atg.needs


def test_atg_unbuilt_is_plain_sum():
  J = tf.constant([[1.0, 2.0], [3.0, -4.0]])
  np.testing.assert_allclose(aggregation.get("atg")(J), [4.0, -2.0])
