"""MetaBalance: auxiliary norm moved towards the main norm, per layer."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl import aggregation, losses
from tfmtl.errors import UserError
from tfmtl.tasks import Task


def built(**kwargs):
  tasks = [Task("m", losses.l1, 1.0, "main"),
           Task("a", losses.l1, 0.1, "aux")]
  method = aggregation.get("metabalance", **kwargs)
  method.build(tasks, num_params=2)
  return method


def test_gate_is_relaxed_norm_ratio_with_moving_average():
  mb = built(relax=0.7, decay=0.9)
  step = tf.function(mb)
  # ‖g_m‖ = 5, ‖g_a‖ = 10: λ = 0.7 · 5/10 + 0.3 (first step: no average).
  d = step(tf.constant([[3.0, 4.0], [0.0, 10.0]])).numpy()
  np.testing.assert_allclose(d, [3.0, 4.0 + 0.65 * 10.0], rtol=1e-6)
  # Second step ‖g_a‖ = 20: m_a = 0.9·10 + 0.1·20 = 11, m_m = 5.
  d = step(tf.constant([[3.0, 4.0], [0.0, 20.0]])).numpy()
  lam = 0.7 * 5 / 11 + 0.3
  np.testing.assert_allclose(d, [3.0, 4.0 + lam * 20.0], rtol=1e-6)
  np.testing.assert_allclose(mb.logs()["gate/shared"], lam, rtol=1e-6)


def test_direction_is_ignored():
  # A conflicting auxiliary gradient is scaled, not removed.
  d = built(relax=1.0)(tf.constant([[1.0, 0.0], [-4.0, 0.0]]))
  np.testing.assert_allclose(d, [0.0, 0.0], atol=1e-7)


def test_bad_arguments():
  with pytest.raises(UserError, match="relax"):
    aggregation.get("metabalance", relax=1.5)
  with pytest.raises(UserError, match="decay"):
    aggregation.get("metabalance", decay=1.0)


def built3():
  tasks = [Task("m", losses.l1, 1.0, "main"),
           Task("a", losses.l1, 0.1, "aux"), Task("b", losses.l1, 0.1, "aux")]
  method = aggregation.get("metabalance", relax=0.7, decay=0.9)
  method.build(tasks, num_params=2)
  return method


def test_absent_task_keeps_its_moving_average():
  mb = built3()
  step = tf.function(mb)
  present = tf.constant([True, True, True])
  # ‖g_m‖ = 5, ‖g_a‖ = ‖g_b‖ = 10: λ = 0.65 for both.
  d = step(tf.constant([[3.0, 4.0], [0.0, 10.0], [6.0, 8.0]]), present)
  np.testing.assert_allclose(d, [3.0 + 3.9, 4.0 + 6.5 + 5.2], rtol=1e-6)
  # a absent (row ignored): m_a stays 10; m_m = 5.5, m_b = 11: λ_b = 0.65.
  d = step(tf.constant([[6.0, 8.0], [1.0, 1.0], [0.0, 20.0]]),
           tf.constant([True, False, True]))
  np.testing.assert_allclose(d, [6.0, 8.0 + 0.65 * 20.0], rtol=1e-6)
  np.testing.assert_allclose(mb._norms.numpy()[:, 0], [5.5, 10.0, 11.0],
                             rtol=1e-6)
  assert float(mb.logs()["gate/a/shared"]) == 0.0
  # Main absent: m_m stays 5.5; m_a = 12, m_b = 10.9; aux still scaled.
  d = step(tf.constant([[100.0, 0.0], [0.0, 30.0], [0.0, 10.0]]),
           tf.constant([False, True, True]))
  lam_a, lam_b = 0.7 * 5.5 / 12 + 0.3, 0.7 * 5.5 / 10.9 + 0.3
  np.testing.assert_allclose(d, [0.0, 30 * lam_a + 10 * lam_b], rtol=1e-6)
  np.testing.assert_allclose(mb._norms.numpy()[:, 0], [5.5, 12.0, 10.9],
                             rtol=1e-6)


def test_averages_start_when_their_task_is_first_present():
  mb = built3()
  # Main absent from the start: λ = 1 (plain sum) while m_m is unknown.
  d = mb(tf.constant([[9.0, 9.0], [0.0, 10.0], [0.0, 4.0]]),
         present=tf.constant([False, True, True]))
  np.testing.assert_allclose(d, [0.0, 14.0], rtol=1e-6)
  # Main's first step: m_m = 5 (its norm, not 0.1·5); m_a = 0.9·10 + 0.1·20.
  d = mb(tf.constant([[3.0, 4.0], [0.0, 20.0], [0.0, 4.0]]),
         present=tf.constant([True, True, False]))
  np.testing.assert_allclose(d, [3.0, 4.0 + (0.7 * 5 / 11 + 0.3) * 20],
                             rtol=1e-6)
  np.testing.assert_allclose(mb._norms.numpy()[:, 0], [5.0, 11.0, 4.0],
                             rtol=1e-6)
