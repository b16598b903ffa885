"""ATG: main tasks and auxiliary tasks enter with their configured weights."""

import numpy as np
import tensorflow as tf

from tfmtl import aggregation, losses
from tfmtl.tasks import Task


def test_atg_is_weighted_sum_over_main_and_aux():
  tasks = [Task("trans", losses.l1, 1.0, "main"),
           Task("rot", losses.l1, 10.0, "main"),
           Task("flow", losses.flow_log_rmse, 0.1, "aux")]
  J = tf.constant(np.random.default_rng(0).normal(size=(3, 7)), tf.float32)
  atg = aggregation.get("atg")
  atg.build(tasks)
  want = J[0] + 10.0 * J[1] + 0.1 * J[2]
  np.testing.assert_allclose(atg(J), want, rtol=1e-6)
  np.testing.assert_allclose(tf.function(atg)(J), want, rtol=1e-6)
  np.testing.assert_allclose(atg.weights_for(J), [1.0, 10.0, 0.1])
  assert not atg.needs


def test_atg_unbuilt_is_plain_sum():
  J = tf.constant([[1.0, 2.0], [3.0, -4.0]])
  np.testing.assert_allclose(aggregation.get("atg")(J), [4.0, -2.0])
