"""GradDrop: the sign-consistency of its output and seeded determinism."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation.graddrop import GradDrop


def test_output_keeps_one_sign_per_coordinate():
  # TorchJD's J_base (tests/unit/aggregation/test_values.py gives [6, 2, 2]
  # for its RNG): column 0 has purity 0.6, so it is 6 (positive kept) or −4;
  # columns 1 and 2 have purity 1 and are always 2.
  J = tf.constant([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])
  seen = set()
  for step in range(20):
    out = GradDrop(seed=0)(J, step=step).numpy()
    assert out[0] in (6.0, -4.0)
    np.testing.assert_array_equal(out[1:], [2.0, 2.0])
    seen.add(out[0])
  assert seen == {6.0, -4.0}


def test_deterministic_in_seed_and_step_and_leak():
  J = tf.constant(np.random.default_rng(0).normal(size=(3, 50)), tf.float32)
  agg = GradDrop(seed=4)
  np.testing.assert_array_equal(agg(J, step=2), agg(J, step=2))
  assert not np.array_equal(agg(J, step=2), agg(J, step=3))
  fn = tf.function(lambda j, s: agg(j, step=s))
  np.testing.assert_array_equal(fn(J, tf.constant(2)), agg(J, step=2))
  np.testing.assert_allclose(GradDrop(leak=[1.0, 1.0, 1.0])(J),
                             tf.reduce_sum(J, 0), rtol=1e-6)
