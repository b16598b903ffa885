"""ConFIG: the official rule on random J, equal
cosines."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation.conflict_free import ConflictFree


def _official(J, p=None):
  """numpy transcription of TorchJD `ConFIG.forward` / tum-pbs ConFIG with
  ProjectionLength: pinv of the unit-row matrix, then the sum of
  projections as the length."""
  p = np.ones(len(J)) if p is None else p
  units = J / np.linalg.norm(J, axis=1, keepdims=True)
  x = np.linalg.pinv(units) @ p
  e = x / np.linalg.norm(x)
  return np.sum(J @ e) * e


def test_matches_the_official_rule_and_equal_cosines():
  rng = np.random.default_rng(0)
  for t in (2, 3, 5):
    J = rng.normal(size=(t, 9)) * rng.uniform(0.1, 10.0, size=(t, 1))
    d = ConflictFree()(tf.constant(J, tf.float32)).numpy()
    want = _official(J)
    np.testing.assert_allclose(d, want, rtol=1e-4,
                               atol=1e-4 * np.abs(want).max())
    cos = J @ d / np.linalg.norm(J, axis=1) / np.linalg.norm(d)
    np.testing.assert_allclose(cos, cos[0], atol=1e-4)
    assert cos[0] > 0  # no task conflicts with d


def test_copies_of_one_gradient_sum_and_zero_rows_are_ignored():
  g = np.array([1.0, -2.0, 0.5], np.float32)
  J = tf.constant(np.stack([g, g, 2 * g]))
  # Parallel rows: rank 1, e = g/‖g‖ and the length is (1 + 1 + 2)‖g‖.
  np.testing.assert_allclose(ConflictFree()(J), 4 * g, rtol=1e-5)
  J = tf.constant([[1.0, 0.0], [0.0, 0.0]])
  np.testing.assert_allclose(ConflictFree()(J), [1.0, 0.0], atol=1e-6)


def test_nearly_opposite_gradients_are_cut_at_the_documented_threshold():
  # 1 + cos = 5e-7 < 2e-6: the near-null direction of UUᵀ is dropped.
  J = tf.constant([[1.0, 0.0], [-1.0, 1e-3]])
  np.testing.assert_allclose(ConflictFree()(J), [0.0, 0.0], atol=1e-7)
  # 1 + cos = 5e-5: kept, and equal to the official rule. UUᵀ has
  # condition 2 / 5e-5 = 4e4, so float32 (an ulp: 1.2e-7) is good to only
  # ~1.2e-7 · 4e4 = 4.8e-3 relative (measured 3.5e-3): exactness in float64
  # (1e-16 · 4e4 ≈ 4e-12; checked at 1e-9), and float32 at 10× its bound.
  J = np.array([[1.0, 0.0], [-1.0, 1e-2]])
  np.testing.assert_allclose(ConflictFree()(tf.constant(J, tf.float64)),
                             _official(J), rtol=1e-9, atol=1e-12)
  np.testing.assert_allclose(ConflictFree()(tf.constant(J, tf.float32)),
                             _official(J), rtol=5e-2, atol=1e-7)


def test_configured_weights_are_the_preference():
  """Orthogonal rows g_a = (2, 0), g_b = (0, 1) with weights p = (2, 1):
  x = U⁺p = (2, 1), e = x/√5, Σ_t g_t·e = 5/√5, so d = (2, 1) — with
  p = 1 it would be (1.5, 1.5)."""
  from tfmtl.tasks import Task  # pylint: disable=import-outside-toplevel
  agg = ConflictFree()
  agg.build([Task("a", lambda y, p: p, weight=2.0),
             Task("b", lambda y, p: p, weight=1.0)])
  d = agg(tf.constant([[2.0, 0.0], [0.0, 1.0]])).numpy()
  np.testing.assert_allclose(d, [2.0, 1.0], rtol=1e-6)
