"""DTP: the focal weight −(1−κ)^γ log κ on a KPI EMA."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.errors import UserError
from tfmtl.tasks import Task
from tfmtl.weighting.dtp import DTP


def _tasks(kpi=lambda y, p: 0.5):
  return [Task(n, lambda y, p: y, kpi=kpi) for n in ("a", "b")]


def test_lower_kpi_gets_more_weight_and_ema():
  dtp = DTP(gamma=2.0, alpha=0.5)
  dtp.build(_tasks())
  step = tf.constant(0)
  w0 = dtp(tf.ones([2]), step).numpy()
  np.testing.assert_allclose(w0[0], w0[1])
  dtp.update(tf.ones([2]), step, kpis=tf.constant([0.9, 0.3]))
  w = dtp(tf.ones([2]), step).numpy()
  assert w[1] > w[0]
  k = np.array([0.9, 0.3])
  np.testing.assert_allclose(w, -(1 - k) ** 2 * np.log(k), rtol=1e-6)
  dtp.update(tf.ones([2]), step, kpis=tf.constant([0.5, 0.5]))
  k = 0.5 * np.array([0.5, 0.5]) + 0.5 * k
  np.testing.assert_allclose(dtp(tf.ones([2]), step),
                             -(1 - k) ** 2 * np.log(k), rtol=1e-6)


def test_tasks_need_a_kpi():
  with pytest.raises(UserError, match="kpi"):
    DTP().build([Task("a", lambda y, p: y)])


def test_absent_task_kpi_is_not_read():
  """a absent at the first step: its κ̄ stays init_kpi and its first
  present KPI replaces it; b absent at the second: its κ̄ stays."""
  dtp = DTP(gamma=[2.0, 0.5], alpha=0.3, init_kpi=0.4)
  dtp.build(_tasks())
  step = tf.constant(0)
  dtp.update(tf.ones([2]), step, kpis=tf.constant([0.05, 0.6]),
             present=tf.constant([False, True]))
  np.testing.assert_allclose(dtp.kpi.numpy(), [0.4, 0.6], rtol=1e-6)
  dtp.update(tf.ones([2]), step, kpis=tf.constant([0.8, 0.02]),
             present=tf.constant([True, False]))
  np.testing.assert_allclose(dtp.kpi.numpy(), [0.8, 0.6], rtol=1e-6)
  dtp.update(tf.ones([2]), step, kpis=tf.constant([0.5, 0.9]))
  k = np.array([0.3 * 0.5 + 0.7 * 0.8, 0.3 * 0.9 + 0.7 * 0.6])
  np.testing.assert_allclose(dtp.kpi.numpy(), k, rtol=1e-6)
  np.testing.assert_allclose(
      dtp(tf.ones([2]), step, present=tf.constant([True, False])),
      -(1 - k) ** np.array([2.0, 0.5]) * np.log(k), rtol=1e-6)
