"""IMTL-L: one train step equals LibMTL's loss transform; scales → 1/L."""

import keras
import numpy as np
import tensorflow as tf

from tfmtl.models.hard_sharing import HardSharingMLP
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step
from tfmtl.weighting.imtl_l import IMTLL


def _mse(y, p):
  return tf.reduce_mean(tf.square(y - p), axis=-1)


def test_one_step_equals_libmtl():
  """LibMTL/weighting/IMTL.py, loss part: L'_t = exp(s_t)·L_t − s_t, summed
  and back-propagated (here without the IMTL-G half): with SGD(lr),
  θ ← θ − lr Σ_t e^{s_t} ∇L_t and s_t ← s_t − lr (e^{s_t} L_t − 1)."""
  lr = 0.1
  model = HardSharingMLP(["a", "b"], trunk_units=(5,), tower_units=(),
                         dropout=0.0, seed=2)
  x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
  y = {"a": x[:, :1] * 3.0, "b": np.cos(x[:, 1:2])}
  model(x[:1])
  method = IMTLL()
  tasks = [Task("a", _mse), Task("b", _mse)]
  step = make_train_step(model, tasks, method, keras.optimizers.SGD(lr))
  s0 = np.array([0.3, -0.7], np.float32)
  method.log_scale.assign(s0)
  before = [v.numpy() for v in model.trainable_variables]
  with tf.GradientTape(persistent=True) as tape:
    out = model(x, training=True)
    losses = [tf.reduce_mean(_mse(y[n], out[n])) for n in ("a", "b")]
  grads = [[g if g is not None else tf.zeros_like(v) for g, v in
            zip(tape.gradient(l, model.trainable_variables),
                model.trainable_variables)] for l in losses]
  losses = np.array([float(l) for l in losses])
  step((tf.constant(x), {k: tf.constant(v) for k, v in y.items()}))
  for i, v in enumerate(model.trainable_variables):
    want = before[i] - lr * (np.exp(s0[0]) * grads[0][i].numpy() +
                             np.exp(s0[1]) * grads[1][i].numpy())
    np.testing.assert_allclose(v.numpy(), want, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(method.log_scale.numpy(),
                             s0 - lr * (np.exp(s0) * losses - 1.0),
                             rtol=1e-5, atol=1e-6)


def test_scales_converge_to_inverse_losses_at_fixed_losses():
  """∂/∂s_t (e^{s_t} L_t − s_t) = 0 at e^{s_t} = 1/L_t."""
  method = IMTLL()
  method.build([Task("a", _mse), Task("b", _mse)])
  losses = tf.constant([0.2, 8.0])
  opt = keras.optimizers.Adam(0.05)

  @tf.function
  def train():
    for _ in tf.range(600):
      with tf.GradientTape() as tape:
        total = (tf.reduce_sum(method(losses, 0) * losses) +
                 method.regularizer())
      opt.apply_gradients([(tape.gradient(total, method.log_scale),
                            method.log_scale)])

  train()
  np.testing.assert_allclose(np.exp(method.log_scale.numpy()), [5.0, 0.125],
                             rtol=1e-2)


def test_absent_task_scale_does_not_move():
  """Task b has no labelled example (sample weights 0): the regularizer is
  −Σ_present s_t, so with SGD(lr) s_a ← s_a − lr (e^{s_a} L_a − 1) as
  before and s_b stays (without `present` it would rise by lr)."""
  lr = 0.1
  model = HardSharingMLP(["a", "b"], trunk_units=(5,), tower_units=(),
                         dropout=0.0, seed=2)
  x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
  y = {"a": x[:, :1] * 3.0, "b": np.full((8, 1), np.nan, np.float32)}
  weights = {"a": np.ones(8, np.float32), "b": np.zeros(8, np.float32)}
  model(x[:1])
  method = IMTLL()
  step = make_train_step(model, [Task("a", _mse), Task("b", _mse)], method,
                         keras.optimizers.SGD(lr))
  s0 = np.array([0.3, -0.7], np.float32)
  method.log_scale.assign(s0)
  logs = step((tf.constant(x), {k: tf.constant(v) for k, v in y.items()},
               {k: tf.constant(v) for k, v in weights.items()}))
  loss_a = float(logs["loss/a"])
  assert float(logs["weight/b"]) == 0.0 and loss_a > 0.1
  np.testing.assert_allclose(method.log_scale.numpy(),
                             [s0[0] - lr * (np.exp(s0[0]) * loss_a - 1.0),
                              s0[1]], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(
      method.regularizer(present=tf.constant([True, False])),
      -method.log_scale.numpy()[0], rtol=1e-6)
