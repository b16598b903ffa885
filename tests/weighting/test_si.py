"""SI: weights are the gradient of Σ_t log L_t; scale invariance."""

import numpy as np
import tensorflow as tf

from tests.weighting.scalarisation import build, weighted_and_true_gradients
from tfmtl.tasks import Task
from tfmtl.weighting.si import ScaleInvariant as SI


def test_weighted_gradient_is_the_gradient_of_the_log_sum():
  for t in (2, 3, 5):
    method = build(SI(), t)
    got, want = weighted_and_true_gradients(
        method, lambda l: tf.reduce_sum(tf.math.log(l)), t)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_rescaling_a_loss_leaves_the_update_unchanged():
  rng = np.random.default_rng(0)
  losses = rng.uniform(0.1, 2.0, size=3).astype(np.float32)
  J = rng.normal(size=(3, 5)).astype(np.float32)
  scale = np.array([1.0, 1000.0, 1e-3], np.float32)  # L_t → a_t L_t
  method = build(SI(), 3)
  d1 = method(tf.constant(losses), 0).numpy() @ J
  d2 = method(tf.constant(losses * scale), 0).numpy() @ (J * scale[:, None])
  np.testing.assert_allclose(d1, d2, rtol=1e-5)


def test_configured_weights_multiply_the_logs():
  # nash-mtl ScaleInvariantLinearScalarization: sum(log(L) * task_weights).
  method = SI()
  method.build([Task("a", lambda y, p: y, weight=2.0),
                Task("b", lambda y, p: y, weight=0.5)])
  np.testing.assert_allclose(method(tf.constant([4.0, 0.25]), 0), [0.5, 2.0],
                             rtol=1e-6)
