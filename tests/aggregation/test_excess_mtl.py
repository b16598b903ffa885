"""ExcessMTL: TorchJD's two-step values, LibMTL's update (numpy transcription)."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.aggregation.excess_mtl import ExcessMTL
from tfmtl.errors import UserError
from tfmtl.tasks import Task


def _built(t, n, **kwargs):
  agg = ExcessMTL(**kwargs)
  agg.build([Task(f"t{i}", None, weight=2.0 if i else 1.0)
             for i in range(t)], num_params=n)
  return agg


def test_torchjd_two_consecutive_steps():
  # Source: TorchJD tests/unit/aggregation/test_excess_mtl.py
  # (test_two_consecutive_steps: ExcessMTLWeighting(robust_step_size=1,
  # n_warmup_steps=0)). TorchJD's weights sum to 1; ours to T: ours / T.
  agg = _built(2, 2, robust_step_size=1.0, warmup_steps=0)
  e1, e2 = np.exp(1.0), np.exp(2.0)
  w1 = np.array([e2, e1]) / (e2 + e1)
  agg(tf.constant([[2.0, 0.0], [1.0, 0.0]]))
  np.testing.assert_allclose(agg.loss_weights.numpy() / 2, w1, atol=1e-4)
  agg(tf.constant([[1.0, 0.0], [2.0, 0.0]]))
  s5 = np.sqrt(5.0)
  u = w1 * np.exp([1.0 / (2.0 * s5), 4.0 / s5])
  np.testing.assert_allclose(agg.loss_weights.numpy() / 2, u / u.sum(),
                             atol=1e-4)


def _libmtl_excess(J, state, step_size):
  """One LibMTL ExcessMTL.backward (numpy): returns Σ_t w_t g_t."""
  t = J.shape[0]
  if state["grad_sum"] is None:
    state["grad_sum"] = np.zeros_like(J)
  w = np.zeros(t)
  for i in range(t):
    state["grad_sum"][i] += J[i] ** 2
    h = np.sqrt(state["grad_sum"][i] + 1e-7)
    w[i] = (J[i] * (1 / h)) @ J[i]
  if state["first"]:
    state["initial_w"] = w
    state["first"] = False
  else:
    w = w / state["initial_w"]
    lw = state["loss_weight"] * np.exp(w * step_size)
    state["loss_weight"] = lw / lw.sum() * t
  return state["loss_weight"] @ J


@pytest.mark.parametrize("step_size", [1e-2, 0.7])
def test_steps_match_libmtl(step_size):
  rng = np.random.default_rng(3)
  t, n = 3, 6
  agg = _built(t, n, robust_step_size=step_size)
  state = dict(grad_sum=None, first=True, initial_w=None,
               loss_weight=np.ones(t))
  for k in range(4):
    J = rng.normal(size=(t, n)) * [[0.3], [1.0], [2.0]]
    want = _libmtl_excess(J, state, step_size)
    got = agg(tf.constant(J, tf.float32)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5,
                               err_msg=f"step {k}")
    # Task-specific variables: configured weight × w_t.
    np.testing.assert_allclose(agg.weights_for(tf.constant(J)),
                               [1.0, 2.0, 2.0] * state["loss_weight"],
                               rtol=1e-5)
  assert np.ptp(state["loss_weight"]) > 1e-4


def test_warmup_baseline_is_the_mean():
  # Source of the rule: TorchJD test_warmup_baseline_is_average (2 warm-up
  # calls, the baseline their mean excess).
  agg = _built(2, 2, robust_step_size=1.0, warmup_steps=2)
  J1 = np.array([[2.0, 0.0], [1.0, 0.0]], np.float32)
  J2 = np.array([[1.0, 0.0], [2.0, 0.0]], np.float32)
  agg(tf.constant(J1))
  agg(tf.constant(J2))
  np.testing.assert_allclose(agg.loss_weights, [1.0, 1.0])
  s = np.array([4.0, 1.0])
  e1 = np.array([4.0, 1.0]) / np.sqrt(s + 1e-7)
  s = s + [1.0, 4.0]
  e2 = np.array([1.0, 4.0]) / np.sqrt(s + 1e-7)
  np.testing.assert_allclose(agg.baseline, (e1 + e2) / 2, rtol=1e-5)


def test_errors():
  with pytest.raises(UserError, match="num_params"):
    ExcessMTL().build([Task("a", None)])
  with pytest.raises(UserError, match="robust_step_size"):
    ExcessMTL(robust_step_size=0.0)


def _excess(J, s):
  return (J ** 2 / np.sqrt(s + 1e-7)).sum(1)


def test_absent_task_keeps_its_state_and_the_total_is_kept():
  rng = np.random.default_rng(4)
  t, n, eta = 3, 4, 0.7
  agg = _built(t, n, robust_step_size=eta)
  step = tf.function(agg)
  J1, J2, J3 = (rng.normal(size=(t, n)) for _ in range(3))
  # Task 1 absent in the first call: only tasks 0, 2 set their baseline.
  step(tf.constant(J1, tf.float32), present=tf.constant([True, False, True]))
  s = J1 ** 2 * [[1], [0], [1]]
  base = _excess(J1, s) * [1, 0, 1]
  np.testing.assert_allclose(agg.baseline, base, rtol=1e-5)
  np.testing.assert_allclose(agg.sq_sum, s, rtol=1e-6)
  # All present: task 1 is in its warm-up (first present call), so only
  # tasks 0, 2 take the step, renormalised to their total 2; w_1 stays 1.
  d = step(tf.constant(J2, tf.float32), present=tf.constant([True] * 3))
  s = s + J2 ** 2
  e = _excess(J2, s)
  base[1] = e[1]
  u = np.exp(eta * e / np.where(base > 0, base, 1)) * [1, 0, 1]
  w = np.where([1, 0, 1], 2.0 * u / u.sum(), 1.0)
  np.testing.assert_allclose(agg.loss_weights, w, rtol=1e-5)
  np.testing.assert_allclose(agg.baseline, base, rtol=1e-5)
  np.testing.assert_allclose(d, w @ J2, rtol=1e-5, atol=1e-6)
  # Task 0 absent: tasks 1, 2 move, their total w_1 + w_2 kept.
  d = step(tf.constant(J3, tf.float32), present=tf.constant([False, True,
                                                             True]))
  s[1:] += J3[1:] ** 2
  e = _excess(J3, s)
  u = w * np.exp(eta * e / base) * [0, 1, 1]
  w = np.where([0, 1, 1], (w[1] + w[2]) * u / u.sum(), w)
  np.testing.assert_allclose(agg.loss_weights, w, rtol=1e-5)
  np.testing.assert_allclose(agg.sq_sum, s, rtol=1e-5)
  np.testing.assert_allclose(d, w[1:] @ J3[1:], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(agg.loss_weights.numpy().sum(), 3.0, rtol=1e-6)
