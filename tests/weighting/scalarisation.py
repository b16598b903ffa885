"""Checks shared by the nonlinear scalarisations (gls, si, stch)."""

import numpy as np
import tensorflow as tf

from tfmtl.tasks import Task


def build(method, num_tasks):
  method.build([Task(f"t{i}", lambda y, p: y) for i in range(num_tasks)])
  return method


def losses_of(theta, num_tasks):
  """Positive task losses of a parameter vector theta [6], of quite
  different sizes: L_t = (a_t·θ − b_t)² + c_t (in theta's dtype)."""
  rng = np.random.default_rng(num_tasks)
  a = tf.constant(rng.normal(size=(num_tasks, 6)), theta.dtype)
  b = tf.constant(rng.normal(size=num_tasks) * 3.0, theta.dtype)
  c = tf.constant(10.0 ** np.arange(-1, num_tasks - 1), theta.dtype)
  return tf.square(tf.linalg.matvec(a, theta) - b) + c


def weighted_and_true_gradients(method, scalarise, num_tasks, step=0):
  """(∇ Σ_t stop(w_t) L_t, ∇ S(L)) at a random θ, as the train step forms
  the first (losses passed to the method without gradient)."""
  theta = tf.Variable(np.random.default_rng(1).normal(size=6), dtype=tf.float32)
  with tf.GradientTape(persistent=True) as tape:
    losses = losses_of(theta, num_tasks)
    w = method(tf.stop_gradient(losses), tf.constant(step))
    weighted = tf.reduce_sum(w * losses)
    true = scalarise(losses)
  return (tape.gradient(weighted, theta).numpy(),
          tape.gradient(true, theta).numpy())


def gradients_with_an_absent_task(method, scalarise, num_tasks, absent,
                                  step=0, dtype=tf.float32):
  """As `weighted_and_true_gradients` with task `absent` absent: its loss
  is 0 (as the step gives it) and the method hears `present`; S is
  `scalarise` of the present tasks' losses only. Also returns w."""
  mask = np.ones(num_tasks, bool)
  mask[absent] = False
  present = tf.constant(mask)
  theta = tf.Variable(np.random.default_rng(1).normal(size=6), dtype=dtype)
  with tf.GradientTape(persistent=True) as tape:
    losses = losses_of(theta, num_tasks) * tf.constant(mask, dtype)
    w = method(tf.stop_gradient(losses), tf.constant(step), present=present)
    weighted = tf.reduce_sum(w * losses)
    true = scalarise(tf.boolean_mask(losses, mask))
  return (tape.gradient(weighted, theta).numpy(),
          tape.gradient(true, theta).numpy(), w.numpy())
