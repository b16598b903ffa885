"""RLW: T·softmax of normal draws, keyed on (seed, step)."""

import numpy as np
import tensorflow as tf

from tfmtl.tasks import Task
from tfmtl.weighting.rlw import RLW


def test_weights_sum_to_t_and_are_seeded():
  rlw = RLW(seed=7)
  rlw.build([Task(n, lambda y, p: y) for n in "abc"])
  losses = tf.ones([3])
  draws = np.stack([rlw(losses, tf.constant(s)) for s in range(200)])
  np.testing.assert_allclose(draws.sum(1), 3.0, rtol=1e-5)
  assert np.all(draws > 0)
  np.testing.assert_array_equal(rlw(losses, tf.constant(5)), draws[5])
  fn = tf.function(rlw.__call__)
  np.testing.assert_allclose(fn(losses, tf.constant(5)), draws[5], rtol=1e-6)
  assert np.std(draws[:, 0]) > 0.1  # random across steps
  np.testing.assert_allclose(draws.mean(0), 1.0, atol=0.15)  # exchangeable
