"""TrimmedMean: TorchJD's golden value, numpy rule, robustness, checks."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.aggregation.trimmed_mean import TrimmedMean
from tfmtl.errors import UserError
from tfmtl.tasks import Task


def test_torchjd_value():
  # Source: TorchJD tests/unit/aggregation/test_values.py,
  # TrimmedMean(trim_number=1) on J_TrimmedMean, atol 1e-4.
  J = tf.constant([[1e11, 3.0], [1.0, -1e11], [-1e10, 1e10], [2.0, 2.0]])
  np.testing.assert_allclose(TrimmedMean(trim_number=1)(J), [1.5, 2.5],
                             atol=1e-4)


def test_matches_numpy_and_ignores_k_outliers():
  rng = np.random.default_rng(0)
  J = rng.normal(size=(7, 11)).astype(np.float32)
  for k in (0, 1, 2, 3):
    want = np.sort(J, axis=0)[k:7 - k].mean(0)
    np.testing.assert_allclose(TrimmedMean(k)(tf.constant(J)), want,
                               rtol=1e-5, atol=1e-6)
  bad = J.copy()
  bad[[1, 4]] = rng.choice([-1e6, 1e6], size=(2, 11))  # 2 corrupted tasks
  d = TrimmedMean(2)(tf.constant(bad)).numpy()
  honest = np.delete(J, [1, 4], axis=0)
  assert np.all(d >= honest.min(0) - 1e-6) and np.all(d <= honest.max(0) + 1e-6)


def test_too_few_tasks_is_a_user_error():
  with pytest.raises(UserError, match="at least 3 tasks"):
    TrimmedMean(1).build([Task(n, lambda y, p: y) for n in "ab"])
  with pytest.raises(UserError, match="trim_number"):
    TrimmedMean(-1)
