"""GradVac: TorchJD's golden values, LibMTL's update over two steps."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.aggregation.gradvac import GradVac
from tfmtl.errors import UserError
from tfmtl.tasks import Task

from tests.helpers import assert_rounds_to


def _built(t, **kwargs):
  agg = GradVac(**kwargs)
  agg.build([Task(f"t{i}", None) for i in range(t)])
  return agg


def test_golden_torchjd():
  # Source: TorchJD tests/unit/aggregation/test_values.py, GradVac() on
  # J_base (first call, targets 0: PCGrad's value) and GradVacWeighting()
  # on G_base. Both sum conventions.
  J = tf.constant([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])
  # TorchJD prints 4 decimals; ours round to them: each value lies ≥ 2.6e-6 from a
  # rounding midpoint, float32 moves it by ≤ 1.2e-7.
  assert_rounds_to(_built(2)(J), [0.5848, 3.8012, 3.8012], 4)
  agg = _built(2)
  agg(J)
  assert_rounds_to(agg.alpha, [2.2222, 1.5789], 4)


def _libmtl_gradvac(grads, rho, beta, libmtl_ema=True):
  """numpy transcription of LibMTL/weighting/GradVac.py (group_type 0), with
  the visiting order fixed to ours (i+1, …, i−1 mod T; LibMTL shuffles)."""
  t = grads.shape[0]
  pc = grads.copy()
  rho = rho.copy()
  for i in range(t):
    for s in range(1, t):
      j = (i + s) % t
      r = pc[i] @ grads[j] / (np.linalg.norm(pc[i]) *
                              np.linalg.norm(grads[j]) + 1e-8)
      hat = rho[i, j]
      if r < hat:
        w = (np.linalg.norm(pc[i]) * (hat * np.sqrt(1 - r ** 2) -
                                      r * np.sqrt(1 - hat ** 2)) /
             (np.linalg.norm(grads[j]) * np.sqrt(1 - hat ** 2) + 1e-8))
        pc[i] = pc[i] + grads[j] * w
        rho[i, j] = (1 - beta) * hat + beta * r
      elif not libmtl_ema:  # the paper / TorchJD: the EMA moves every visit
        rho[i, j] = (1 - beta) * hat + beta * r
  return pc.sum(0), rho


@pytest.mark.parametrize("libmtl_ema, beta", [(True, 0.5), (False, 0.5),
                                               (True, 0.3), (False, 0.8)])
def test_two_steps_match_libmtl(libmtl_ema, beta):
  # β ≠ 0.5 too: at 0.5 the EMA's β and 1 − β coincide.
  rng = np.random.default_rng(0)
  t = 3
  agg = _built(t, beta=beta, libmtl_ema=libmtl_ema)
  rho = np.zeros((t, t))
  for step in range(3):
    J = rng.normal(size=(t, 7))
    J[1] += 0.8 * J[0]  # some agreeing pairs: targets rise above 0
    want, rho = _libmtl_gradvac(J, rho, beta, libmtl_ema)
    got = agg(tf.constant(J, tf.float32)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5,
                               err_msg=f"step {step}")
    np.testing.assert_allclose(agg.targets.numpy(), rho, atol=1e-5)
  assert np.abs(rho).max() > 0.05  # the state did something


def test_vaccine_reaches_the_target_cosine():
  # After the vaccine, cos(g_i^PC, g_j) equals the target (paper, eq. 4).
  agg = _built(2)
  agg.targets.assign([[0.0, 0.6], [0.6, 0.0]])
  J = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.5]], np.float32)
  agg(tf.constant(J))
  c = agg.alpha.numpy()  # Σ_i C_i; row 0 of C is (1, w₀)
  pc0 = J[0] + (c[1] - 1.0) * J[1]
  cos = pc0 @ J[1] / np.linalg.norm(pc0) / np.linalg.norm(J[1])
  np.testing.assert_allclose(cos, 0.6, atol=1e-5)


def test_bad_beta():
  with pytest.raises(UserError, match="beta"):
    GradVac(beta=1.5)


def test_randomised_orders_are_permutations_keyed_on_the_step():
  agg = GradVac(randomised=True, seed=4)
  assert agg.needs == frozenset({"step"})
  seen = set()
  for step in range(6):
    orders = agg._orders(4, tf.constant(step, tf.int64)).numpy()
    for i, row in enumerate(orders):
      assert sorted(row) == [j for j in range(4) if j != i]
    seen.add(orders.tobytes())
    np.testing.assert_array_equal(
        orders, agg._orders(4, tf.constant(step, tf.int64)).numpy())
  assert len(seen) > 1
  # With one order per task as LibMTL's shuffle gave, the step equals the
  # transcription run in that order.
  rng = np.random.default_rng(1)
  J = rng.normal(size=(4, 6))
  J[2] += J[0]
  agg = _built(4, randomised=True, seed=4, libmtl_ema=True)
  agg.targets.assign(np.full((4, 4), 0.3, np.float32))
  got = agg(tf.constant(J, tf.float32), step=tf.constant(3, tf.int64))
  orders = agg._orders(4, tf.constant(3, tf.int64)).numpy()
  pc, rho = J.copy(), np.full((4, 4), 0.3)
  for i in range(4):
    for j in orders[i]:
      r = pc[i] @ J[j] / (np.linalg.norm(pc[i]) * np.linalg.norm(J[j]) + 1e-8)
      if r < rho[i, j]:
        hat = rho[i, j]
        w = (np.linalg.norm(pc[i]) * (hat * np.sqrt(1 - r ** 2) -
                                      r * np.sqrt(1 - hat ** 2)) /
             (np.linalg.norm(J[j]) * np.sqrt(1 - hat ** 2) + 1e-8))
        pc[i] = pc[i] + J[j] * w
        rho[i, j] = (1 - 0.5) * hat + 0.5 * r
  np.testing.assert_allclose(got, pc.sum(0), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(agg.targets.numpy(), rho, atol=1e-5)


@pytest.mark.parametrize("libmtl_ema", [True, False])
def test_absent_task_is_skipped_and_its_targets_stay(libmtl_ema):
  # Task 1 absent (its row, nonzero here, ignored): the step is the
  # transcription on tasks 0, 2, 3 with their targets; the targets of
  # every pair with task 1 stay.
  rng = np.random.default_rng(5)
  J = rng.normal(size=(4, 6))
  J[2] += J[0]
  rho = rng.uniform(0.1, 0.6, size=(4, 4))
  np.fill_diagonal(rho, 0.0)
  agg = _built(4, libmtl_ema=libmtl_ema, beta=0.3)  # β ≠ 1 − β
  agg.targets.assign(rho.astype(np.float32))
  got = tf.function(agg)(tf.constant(J, tf.float32),
                         present=tf.constant([True, False, True, True]))
  keep = [0, 2, 3]
  want, sub = _libmtl_gradvac(J[keep], rho[np.ix_(keep, keep)], 0.3,
                              libmtl_ema)
  want_rho = rho.copy()
  want_rho[np.ix_(keep, keep)] = sub
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(agg.targets.numpy(), want_rho, atol=1e-6)
  assert float(agg.alpha[1]) == 0.0
  assert np.abs(sub - rho[np.ix_(keep, keep)]).max() > 0.01
