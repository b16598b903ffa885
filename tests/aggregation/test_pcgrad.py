"""PCGrad: TorchJD's golden value and the paper's no-conflict property."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation.pcgrad import PCGrad

J_BASE = tf.constant([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])


def test_golden_torchjd():
  # Source: TorchJD tests/unit/aggregation/test_values.py (PCGrad(), J_base).
  np.testing.assert_allclose(PCGrad()(J_BASE), [0.5848, 3.8012, 3.8012],
                             atol=1e-4)
  # With two tasks the random order cannot matter.
  np.testing.assert_allclose(PCGrad(randomised=True, seed=5)(J_BASE, step=7),
                             [0.5848, 3.8012, 3.8012], atol=1e-4)


def test_no_conflict_with_any_task_two_tasks():
  # Yu et al. 2020 §3: after surgery of two conflicting gradients the sum
  # has a non-negative inner product with each.
  rng = np.random.default_rng(0)
  hits = 0
  for _ in range(30):
    J = rng.normal(size=(2, 5)).astype(np.float32)
    if J[0] @ J[1] >= 0:
      continue
    hits += 1
    d = PCGrad()(tf.constant(J)).numpy()
    assert np.all(J @ d >= -1e-5)
  assert hits > 5


def test_non_conflicting_is_sum_and_average_is_permutation_invariant():
  J = np.abs(np.random.default_rng(1).normal(size=(3, 4))).astype(np.float32)
  np.testing.assert_allclose(PCGrad()(tf.constant(J)), J.sum(0), rtol=1e-6)
  J = np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32)
  a = PCGrad()(tf.constant(J)).numpy()
  b = PCGrad()(tf.constant(J[[2, 0, 1]])).numpy()
  np.testing.assert_allclose(a, b, atol=1e-5)


def test_randomised_is_keyed_on_seed_and_step():
  J = tf.constant(np.random.default_rng(3).normal(size=(4, 6)), tf.float32)
  agg = PCGrad(randomised=True, seed=1)
  assert agg.needs == {"step"}
  np.testing.assert_array_equal(agg(J, step=3), agg(J, step=3))
  fn = tf.function(lambda j, s: agg(j, step=s))
  np.testing.assert_allclose(fn(J, tf.constant(3)), agg(J, step=3), atol=1e-6)
