"""Krum: TorchJD's golden values, the rule on random J, checks."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.aggregation.krum import Krum
from tfmtl.errors import UserError
from tfmtl.tasks import Task

J_KRUM = tf.constant([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [75.0, -666.0, 23.0],
                      [1.0, 2.0, 3.0], [2.0, 0.0, 1.0]])


def test_torchjd_values():
  # Source: TorchJD tests/unit/aggregation/test_values.py,
  # Krum(n_byzantine=1, n_selected=4) on J_Krum and KrumWeighting(1, 4) on
  # its Gramian, atol 1e-4.
  agg = Krum(n_byzantine=1, n_selected=4)
  np.testing.assert_allclose(agg(J_KRUM), [1.25, 0.75, 1.5], atol=1e-4)
  G = tf.matmul(J_KRUM, J_KRUM, transpose_b=True)
  np.testing.assert_allclose(agg.task_combination(G, J_KRUM),
                             [0.25, 0.25, 0.0, 0.25, 0.25], atol=1e-4)


def _krum_numpy(J, f, m):
  t = len(J)
  dist = np.linalg.norm(J[:, None] - J[None], axis=-1)
  scores = [np.sort(np.delete(dist[i], i))[:t - f - 2].sum() for i in range(t)]
  chosen = np.argsort(scores, kind="stable")[:m]
  return J[chosen].mean(0)


def test_matches_the_rule_on_random_j():
  rng = np.random.default_rng(0)
  for t, f, m in itertools.product((4, 6), (0, 1), (1, 2)):
    J = rng.normal(size=(t, 5)).astype(np.float32)
    J[0] *= 50.0  # an outlier
    d = Krum(f, m)(tf.constant(J)).numpy()
    np.testing.assert_allclose(d, _krum_numpy(J, f, m), rtol=1e-5, atol=1e-6)


def test_checks():
  with pytest.raises(UserError, match="at least 4 tasks"):
    Krum(n_byzantine=1).build([Task(n, lambda y, p: y) for n in "abc"])
  with pytest.raises(UserError, match="n_selected"):
    Krum(n_selected=0)
