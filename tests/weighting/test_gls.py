"""GLS: weights are the gradient of the geometric mean of the losses."""

import numpy as np
import tensorflow as tf

from tests.weighting.scalarisation import (
    build, gradients_with_an_absent_task, weighted_and_true_gradients)
from tfmtl.weighting.gls import GLS


def test_weighted_gradient_is_the_gradient_of_the_geometric_mean():
  for t in (2, 3, 5):
    method = build(GLS(), t)
    got, want = weighted_and_true_gradients(
        method, lambda l: tf.reduce_prod(l) ** (1.0 / l.shape[0]), t)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_one_step_equals_libmtl():
  """LibMTL/weighting/GLS.py: backward of prod(L)**(1/T); in numpy, the
  shared gradient is Σ_t ∂/∂L_t (Π L)^(1/T) · J_t."""
  rng = np.random.default_rng(0)
  for t in (2, 3, 4):
    losses = rng.uniform(0.05, 5.0, size=t)
    J = rng.normal(size=(t, 7))
    prod = np.prod(losses)
    dgm = prod ** (1.0 / t) / (t * losses)  # d (Π L)^(1/T) / d L_t
    want = dgm @ J
    method = build(GLS(), t)
    w = method(tf.constant(losses, tf.float32), tf.constant(0)).numpy()
    np.testing.assert_allclose(w @ J, want, rtol=1e-5, atol=1e-6)


def test_equal_losses_give_mean_weights_and_tiny_losses_do_not_underflow():
  method = build(GLS(), 4)
  # exp(mean log L) / (T L) in float32: ≲ (|log L| + 3)·6e-8 = 2.5e-7
  # relative; checked at 2.5e-6.
  np.testing.assert_allclose(method(tf.fill([4], 3.0), 0), [0.25] * 4,
                             rtol=2.5e-6)
  # Π L = 1.6e-59 underflows float32 to 0; the weights do not: the
  # geometric mean is 2e-15 and w_t = GM / (4 L_t). float32 with
  # |log L| ≈ 34: ≲ (34 + 3)·6e-8 = 2.2e-6 relative; checked at 3e-5.
  w = method(tf.constant([1e-15, 1e-15, 4e-15, 4e-15]), 0).numpy()
  np.testing.assert_allclose(w, [0.5, 0.5, 0.125, 0.125], rtol=3e-5)


def test_absent_task_geometric_mean_of_the_present_tasks():
  """An absent task (L = 0, which would zero the product) is left out: the
  weighted gradient is that of (Π_present L)^(1/P), and its weight is 0.
  In float64: the two gradients are exact to round-off there (in float32
  they part by ~1e-6 of their size, where the terms cancel)."""
  for t, absent in ((3, 0), (4, 2)):
    method = build(GLS(), t)
    got, want, w = gradients_with_an_absent_task(
        method, lambda l: tf.reduce_prod(l) ** (1.0 / l.shape[0]), t, absent,
        dtype=tf.float64)
    np.testing.assert_allclose(got, want, rtol=1e-10,
                               atol=1e-12 * np.abs(want).max())
    assert w[absent] == 0.0
  losses = tf.constant([0.5, 0.0, 2.0, 3.0])
  w = GLS()(losses, 0, present=tf.constant([True, False, True, True]))
  s = (0.5 * 2.0 * 3.0) ** (1 / 3)
  np.testing.assert_allclose(w, [s / 1.5, 0.0, s / 6.0, s / 9.0], rtol=1e-6)
