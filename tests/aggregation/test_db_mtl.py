"""DB-MTL against a numpy transcription of LibMTL/weighting/DB_MTL.py."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.aggregation.db_mtl import DBMTL
from tfmtl.errors import UserError
from tfmtl.tasks import Task


def _built(t, n, **kwargs):
  agg = DBMTL(**kwargs)
  agg.build([Task(f"t{i}", None, weight=1.0 + i) for i in range(t)],
            num_params=n)
  return agg


def _libmtl_db_mtl(J, losses, buffer, step, beta, beta_sigma):
  """One LibMTL DB_MTL.backward: grads of log(L + 1e-8), EMA, rescale."""
  step += 1
  grads = J / (losses + 1e-8)[:, None]  # ∇ log(L + 1e-8)
  buffer = grads + (beta / step ** beta_sigma) * (buffer - grads)
  u = np.linalg.norm(buffer, axis=-1)
  alpha = u.max() / (u + 1e-8)
  return (alpha[:, None] * buffer).sum(0), buffer, step


@pytest.mark.parametrize("beta,beta_sigma", [(0.9, 0.0), (0.7, 0.5)])
def test_steps_match_libmtl(beta, beta_sigma):
  rng = np.random.default_rng(1)
  t, n = 3, 6
  agg = _built(t, n, beta=beta, beta_sigma=beta_sigma)
  buffer, step = np.zeros((t, n)), 0
  for k in range(3):
    J = rng.normal(size=(t, n)) * [[0.1], [1.0], [10.0]]
    losses = rng.uniform(0.1, 5.0, size=t)
    want, buffer, step = _libmtl_db_mtl(J, losses, buffer, step, beta,
                                        beta_sigma)
    got = agg(tf.constant(J, tf.float32),
              losses=tf.constant(losses, tf.float32)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5,
                               err_msg=f"step {k}")
    np.testing.assert_allclose(agg.buffer.numpy(), buffer, rtol=1e-5,
                               atol=1e-6)
    # Task-specific variables: configured weight × ∇ log L_t.
    np.testing.assert_allclose(agg.weights_for(tf.constant(J)),
                               (1.0 + np.arange(t)) / (losses + 1e-8),
                               rtol=1e-6)


def test_every_task_contributes_the_largest_norm():
  agg = _built(2, 3, beta=0.0)
  J = np.array([[3.0, 0.0, 0.0], [0.0, 0.5, 0.0]], np.float32)
  d = agg(tf.constant(J), losses=tf.constant([2.0, 0.1])).numpy()
  # log-loss gradients: (1.5, 0, 0) and (0, 5, 0); both rescaled to norm 5.
  np.testing.assert_allclose(d, [5.0, 5.0, 0.0], rtol=1e-5)


def test_errors():
  with pytest.raises(UserError, match="num_params"):
    DBMTL().build([Task("a", None)])
  with pytest.raises(UserError, match="losses"):
    _built(2, 3)(tf.ones([2, 3]))


def test_absent_task_keeps_its_ema_and_is_left_out():
  rng = np.random.default_rng(2)
  t, n, beta = 3, 5, 0.7
  agg = _built(t, n, beta=beta, beta_sigma=0.5)
  step = tf.function(agg)
  J1 = rng.normal(size=(t, n)) * [[0.1], [1.0], [10.0]]
  l1 = rng.uniform(0.1, 5.0, size=t)
  _, buffer, k = _libmtl_db_mtl(J1, l1, np.zeros((t, n)), 0, beta, 0.5)
  step(tf.constant(J1, tf.float32), losses=tf.constant(l1, tf.float32),
       present=tf.constant([True] * 3))
  # Task 1 absent (its row and loss, nonzero here, are ignored).
  J2 = rng.normal(size=(t, n))
  l2 = rng.uniform(0.1, 5.0, size=t)
  d = step(tf.constant(J2, tf.float32), losses=tf.constant(l2, tf.float32),
           present=tf.constant([True, False, True])).numpy()
  rate = beta / 2 ** 0.5  # the second call, k = 2 (global count)
  grads = J2 / (l2 + 1e-8)[:, None]
  want_buffer = buffer.copy()
  for i in (0, 2):
    want_buffer[i] = grads[i] + rate * (buffer[i] - grads[i])
  u = np.linalg.norm(want_buffer, axis=1)
  top = max(u[0], u[2])
  want = sum(top / (u[i] + 1e-8) * want_buffer[i] for i in (0, 2))
  np.testing.assert_allclose(agg.buffer.numpy(), want_buffer, rtol=1e-5,
                             atol=1e-6)
  np.testing.assert_allclose(d, want, rtol=1e-5, atol=1e-5)
  assert float(agg.alpha[1]) == 0.0
  # Task 1's own-variable scale stays the first step's 1/(L + ε).
  np.testing.assert_allclose(agg.own_scale.numpy(),
                             1 / (np.array([l2[0], l1[1], l2[2]]) + 1e-8),
                             rtol=1e-6)
