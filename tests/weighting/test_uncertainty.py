"""Uncertainty weighting (Kendall et al. 2018)."""

import keras
import numpy as np
import tensorflow as tf

from tfmtl import losses, weighting
from tfmtl.tasks import Task


def test_learned_variance_converges_to_the_plateau_loss():
  """With the loss at a plateau, ∂/∂s [exp(-s) L/2 + s/2] = 0 at exp(s) = L.

  The "network" here is a linear model on data with irreducible noise of
  variance 0.25 (task a) and 4.0 (task b): the MSE plateaus at the noise
  variance, and σ² = exp(s) must follow it.
  """
  rng = np.random.default_rng(0)
  x = rng.normal(size=(4096, 4)).astype(np.float32)
  w_true = rng.normal(size=(4, 2)).astype(np.float32)
  noise = rng.normal(size=(4096, 2)).astype(np.float32) * [0.5, 2.0]
  y = x @ w_true + noise
  tasks = [Task("a", losses.mse), Task("b", losses.mse)]
  method = weighting.get("uncertainty")
  method.build(tasks)
  w = tf.Variable(tf.zeros([4, 2]))
  opt = keras.optimizers.Adam(0.05)

  @tf.function
  def step(xb, yb):
    with tf.GradientTape() as tape:
      pred = xb @ w
      task_losses = tf.stack([losses.mse(yb[:, i:i + 1], pred[:, i:i + 1])
                              for i in range(2)])
      task_losses = tf.reduce_mean(task_losses, axis=1)
      total = tf.reduce_sum(method(task_losses, 0) * task_losses)
      total += method.regularizer()
    vs = [w, method.log_var]
    opt.apply_gradients(zip(tape.gradient(total, vs), vs))
    return task_losses

  for i in range(1500):
    j = (i * 256) % 4096
    step(x[j:j + 256], y[j:j + 256])
  plateau = np.mean((x @ w.numpy() - y) ** 2, axis=0)
  sigma2 = np.exp(method.log_var.numpy())
  np.testing.assert_allclose(sigma2, plateau, rtol=0.10)


def test_classification_form_weight_and_regularizer():
  method = weighting.get("uncertainty", classification=["c"], init=np.log(2.))
  method.build([Task("r", losses.mse), Task("c", losses.sparse_ce)])
  np.testing.assert_allclose(method(tf.ones([2]), 0).numpy(), [0.25, 0.5],
                             rtol=1e-6)
  np.testing.assert_allclose(float(method.regularizer()), np.log(2.0),
                             rtol=1e-6)


def _libmtl_uw(losses_np, s):
  """numpy transcription of LibMTL/weighting/UW.py: the loss
  Σ_t L_t / (2 e^{s_t}) + s_t / 2 (every task in the regression form), its
  gradient w.r.t. s, and the weights it reports, 1 / (2 e^{s_t})."""
  w = 1.0 / (2.0 * np.exp(s))
  total = np.sum(losses_np * w + s / 2.0)
  grad_s = -losses_np * w + 0.5
  return total, grad_s, w


def test_steps_match_libmtl():
  """LibMTL/weighting/UW.py, three SGD steps on s with random losses. Same
  form (LibMTL has no classification form: all tasks regression here);
  LibMTL initialises s = −0.5, our default is 0, so init=−0.5 is passed."""
  rng = np.random.default_rng(8)
  method = weighting.get("uncertainty", init=-0.5)
  method.build([Task(n, losses.mse) for n in "abc"])
  s, lr = np.full(3, -0.5), 0.1
  for _ in range(3):
    task_losses = rng.uniform(0.1, 5.0, size=3)
    want_total, want_grad, want_w = _libmtl_uw(task_losses, s)
    with tf.GradientTape() as tape:
      w = method(tf.constant(task_losses, tf.float32), 0)
      total = tf.reduce_sum(w * task_losses) + method.regularizer()
    grad = tape.gradient(total, method.log_var).numpy()
    np.testing.assert_allclose(w.numpy(), want_w, rtol=1e-5)
    np.testing.assert_allclose(float(total), want_total, rtol=1e-5)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5, atol=1e-6)
    method.log_var.assign_sub(lr * grad)
    s = s - lr * want_grad
  np.testing.assert_allclose(method.log_var.numpy(), s, rtol=1e-5)


def test_absent_task_variance_does_not_move():
  """As test_steps_match_libmtl with task b absent in the second step (its
  loss 0, and the step masks its weight): the regularizer is Σ_present
  s_t / 2, so ∂/∂s_b = 0 and s_b stays; a and c step as LibMTL's UW on
  the 2-task problem. Without `present` s_b would fall by lr/2."""
  rng = np.random.default_rng(8)
  method = weighting.get("uncertainty", init=-0.5)
  method.build([Task(n, losses.mse) for n in "abc"])
  s, lr = np.full(3, -0.5), 0.1
  for mask in ([True] * 3, [True, False, True], [True] * 3):
    p = np.array(mask)
    task_losses = np.where(p, rng.uniform(0.1, 5.0, size=3), 0.0)
    present = tf.constant(mask)
    _, want_grad, _ = _libmtl_uw(task_losses[p], s[p])
    with tf.GradientTape() as tape:
      w = method(tf.constant(task_losses, tf.float32), 0, present=present)
      w = w * p  # as the step
      total = (tf.reduce_sum(w * task_losses) +
               method.regularizer(present=present))
    grad = tape.gradient(total, method.log_var).numpy()
    np.testing.assert_allclose(grad[p], want_grad, rtol=1e-5, atol=1e-6)
    assert np.all(grad[~p] == 0.0)
    method.log_var.assign_sub(lr * grad)
    s[p] = s[p] - lr * want_grad
  np.testing.assert_allclose(method.log_var.numpy(), s, rtol=1e-5)
