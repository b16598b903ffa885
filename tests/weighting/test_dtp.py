"""DTP: the focal weight −(1−κ)^γ log κ on a KPI EMA."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.errors import UserError
from tfmtl.tasks import Task
from tfmtl.weighting.dtp import DTP


def _tasks(kpi=lambda y, p: 0.5):
  return [Task(n, lambda y, p: y, kpi=kpi) for n in ("a", "b")]


# References are float64 of the float32 values the method holds (a KPI of
# 0.9 rounded to float32 moves −(1−κ)²log κ by 30× its own 6e-8): the
# weight is then 3 float32 roundings off (pow, log, product: ≤ 2e-7
# relative; measured ≤ 1.2e-8), the EMA 3 (two products and a sum);
# RTOL = 2e-6 is 10× those bounds.
RTOL = 2e-6


def _f32(x):
  return np.asarray(x, np.float32).astype(np.float64)


def _focal(k, gamma):
  return -(1 - k) ** np.asarray(gamma) * np.log(k)


def test_lower_kpi_gets_more_weight_and_ema():
  dtp = DTP(gamma=2.0, alpha=0.8)  # α ≠ 1 − α: the EMA's sides differ
  dtp.build(_tasks())
  step = tf.constant(0)
  w0 = dtp(tf.ones([2]), step).numpy()
  np.testing.assert_allclose(w0, _focal(0.5, 2.0), rtol=RTOL)  # init_kpi
  dtp.update(tf.ones([2]), step, kpis=tf.constant([0.9, 0.3]))
  # The first KPI replaces init_kpi (no EMA with it).
  np.testing.assert_array_equal(dtp.kpi.numpy(), np.float32([0.9, 0.3]))
  w = dtp(tf.ones([2]), step).numpy()
  assert w[1] > w[0]
  np.testing.assert_allclose(w, _focal(_f32([0.9, 0.3]), 2.0), rtol=RTOL)
  dtp.update(tf.ones([2]), step, kpis=tf.constant([0.5, 0.6]))
  k = 0.8 * _f32([0.5, 0.6]) + 0.2 * _f32([0.9, 0.3])
  np.testing.assert_allclose(dtp.kpi.numpy(), k, rtol=RTOL)
  np.testing.assert_allclose(dtp(tf.ones([2]), step),
                             _focal(_f32(dtp.kpi.numpy()), 2.0), rtol=RTOL)


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
  np.testing.assert_array_equal(dtp.kpi.numpy(), np.float32([0.4, 0.6]))
  dtp.update(tf.ones([2]), step, kpis=tf.constant([0.8, 0.02]),
             present=tf.constant([True, False]))
  np.testing.assert_array_equal(dtp.kpi.numpy(), np.float32([0.8, 0.6]))
  dtp.update(tf.ones([2]), step, kpis=tf.constant([0.5, 0.9]))
  k = 0.3 * _f32([0.5, 0.9]) + 0.7 * _f32([0.8, 0.6])
  np.testing.assert_allclose(dtp.kpi.numpy(), k, rtol=RTOL)
  np.testing.assert_allclose(
      dtp(tf.ones([2]), step, present=tf.constant([True, False])),
      _focal(_f32(dtp.kpi.numpy()), [2.0, 0.5]), rtol=RTOL)
