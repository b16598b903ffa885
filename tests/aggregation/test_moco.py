"""MoCo against a numpy transcription of LibMTL/weighting/MoCo.py."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.aggregation.moco import MoCo
from tfmtl.errors import UserError
from tfmtl.tasks import Task


def _built(t, n, **kwargs):
  agg = MoCo(**kwargs)
  agg.build([Task(f"t{i}", None) for i in range(t)], num_params=n)
  return agg


def _softmax(x):
  e = np.exp(x - x.max())
  return e / e.sum()


def _libmtl_moco(J, losses, y, lambd, step, beta, beta_sigma, gamma,
                 gamma_sigma, rho):
  """One LibMTL MoCo.backward (numpy)."""
  step += 1
  t = J.shape[0]
  g = J / (np.linalg.norm(J, axis=1, keepdims=True) + 1e-8) * losses[:, None]
  y = y - (beta / step ** beta_sigma) * (y - g)
  lambd = _softmax(lambd - (gamma / step ** gamma_sigma) *
                   (y @ y.T + rho * np.eye(t)) @ lambd)
  return y.T @ lambd, y, lambd, step


@pytest.mark.parametrize("params", [
    dict(beta=0.5, beta_sigma=0.5, gamma=0.1, gamma_sigma=0.5, rho=0.0),
    dict(beta=0.3, beta_sigma=0.2, gamma=0.8, gamma_sigma=0.3, rho=0.5)])
def test_steps_match_libmtl(params):
  rng = np.random.default_rng(2)
  t, n = 3, 5
  agg = _built(t, n, **params)
  y, lambd, step = np.zeros((t, n)), np.full(t, 1.0 / t), 0
  for k in range(3):
    J = rng.normal(size=(t, n)) * [[0.5], [1.0], [4.0]]
    losses = rng.uniform(0.5, 3.0, size=t)
    want, y, lambd, step = _libmtl_moco(J, losses, y, lambd, step, **params)
    got = agg(tf.constant(J, tf.float32),
              losses=tf.constant(losses, tf.float32)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5,
                               err_msg=f"step {k}")
    np.testing.assert_allclose(agg.lambd.numpy(), lambd, rtol=1e-5)
    np.testing.assert_allclose(agg.y.numpy(), y, rtol=1e-5, atol=1e-6)
  assert abs(lambd.sum() - 1.0) < 1e-6 and np.ptp(lambd) > 1e-3


def test_errors():
  with pytest.raises(UserError, match="num_params"):
    MoCo().build([Task("a", None)])
  with pytest.raises(UserError, match="losses"):
    _built(2, 3)(tf.ones([2, 3]))
  with pytest.raises(UserError, match=">= 0"):
    MoCo(gamma=-1.0)


def test_absent_task_keeps_y_and_lambda_the_rest_is_the_sub_problem():
  params = dict(beta=0.3, beta_sigma=0.2, gamma=0.8, gamma_sigma=0.3,
                rho=0.5)
  rng = np.random.default_rng(3)
  t, n = 3, 5
  agg = _built(t, n, **params)
  step = tf.function(agg)
  J = rng.normal(size=(t, n)) * [[0.5], [1.0], [4.0]]
  losses = rng.uniform(0.5, 3.0, size=t)
  _, y, lambd, k = _libmtl_moco(J, losses, np.zeros((t, n)),
                                np.full(t, 1.0 / t), 0, **params)
  step(tf.constant(J, tf.float32), losses=tf.constant(losses, tf.float32),
       present=tf.constant([True] * 3))
  np.testing.assert_allclose(agg.lambd.numpy(), lambd, rtol=1e-5)
  # Task 1 absent (its row and loss, nonzero here, ignored).
  J = rng.normal(size=(t, n))
  losses = rng.uniform(0.5, 3.0, size=t)
  keep = [0, 2]
  before = agg.lambd.numpy()[1]
  s = lambd[keep].sum()
  want, y_sub, sub, _ = _libmtl_moco(J[keep], losses[keep], y[keep],
                                     lambd[keep] / s, k, **params)
  got = step(tf.constant(J, tf.float32),
             losses=tf.constant(losses, tf.float32),
             present=tf.constant([True, False, True])).numpy()
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  want_y, want_lambd = y.copy(), lambd.copy()
  want_y[keep], want_lambd[keep] = y_sub, s * sub
  np.testing.assert_allclose(agg.y.numpy(), want_y, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(agg.lambd.numpy(), want_lambd, rtol=1e-5)
  assert agg.lambd.numpy()[1] == before
  np.testing.assert_allclose(agg.lambd.numpy().sum(), 1.0, rtol=1e-6)
