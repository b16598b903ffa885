"""SI: weights are the gradient of Σ_t log L_t; scale invariance."""

import numpy as np
import tensorflow as tf

from tests.weighting.scalarisation import (
    build, losses_of, weighted_and_true_gradients)
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


def test_absent_task_is_left_out_of_the_log_sum():
  """S = Σ_present log L_t: the weighted gradient (the step zeroes the
  absent task's weight; SI needs no `present`) is ∇ of the present tasks'
  log sum, and the present tasks' weights are those of the smaller
  problem."""
  t, absent = 3, 1
  method = build(SI(), t)
  mask = np.array([True, False, True])
  theta = tf.Variable(np.random.default_rng(1).normal(size=6),
                      dtype=tf.float32)
  with tf.GradientTape(persistent=True) as tape:
    losses = losses_of(theta, t) * mask.astype(np.float32)
    w = method(tf.stop_gradient(losses), tf.constant(0)) * mask  # the step
    weighted = tf.reduce_sum(w * losses)
    true = tf.reduce_sum(tf.math.log(tf.boolean_mask(losses, mask)))
  np.testing.assert_allclose(tape.gradient(weighted, theta),
                             tape.gradient(true, theta), rtol=1e-5, atol=1e-6)
  small = build(SI(), 2)(tf.boolean_mask(losses, mask), tf.constant(0))
  np.testing.assert_array_equal(np.asarray(w)[mask], small)
  assert np.asarray(w)[absent] == 0.0
