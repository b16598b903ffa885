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
