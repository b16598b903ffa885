"""FAMO: two train steps equal a transcription of LibMTL/weighting/FAMO.py
(backward on Σ z/c · log D, then `update_w` with the same batch's losses
after the optimizer step; the logits' torch Adam with weight decay)."""

import keras
import numpy as np
import tensorflow as tf

from tfmtl import methods
from tfmtl.tasks import Task
from tfmtl.train_step import make_train_step

from tests.helpers import mse, tiny_model

LR, W_LR, GAMMA = 0.05, 0.3, 1e-3


class TorchAdam:
  """torch.optim.Adam with (L2) weight_decay, on a numpy vector."""

  def __init__(self, lr, weight_decay):
    self.lr, self.wd, self.m, self.v, self.n = lr, weight_decay, 0.0, 0.0, 0

  def step(self, w, grad):
    grad = grad + self.wd * w
    self.n += 1
    self.m = 0.9 * self.m + 0.1 * grad
    self.v = 0.999 * self.v + 0.001 * grad ** 2
    m_hat = self.m / (1 - 0.9 ** self.n)
    v_hat = self.v / (1 - 0.999 ** self.n)
    return w - self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)


def _losses(model, x, y):
  out = model(x)
  return [tf.reduce_mean(mse(y[t], out[t])) for t in "ab"]


def test_two_steps_equal_libmtl():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(6, 3)).astype(np.float32)
  y = {"a": rng.normal(size=(6, 1)).astype(np.float32),
       "b": 10 * rng.normal(size=(6, 1)).astype(np.float32)}
  model = tiny_model()
  method = methods.get("famo", lr=W_LR, gamma=GAMMA)
  step = make_train_step(model, [Task("a", mse), Task("b", mse)], method,
                         keras.optimizers.SGD(LR), function=False)
  ref = tiny_model()
  xi, adam = np.zeros(2), TorchAdam(W_LR, GAMMA)
  for _ in range(2):
    step((x, y))
    with tf.GradientTape() as tape:
      losses = _losses(ref, x, y)
      l = np.array([float(v) for v in losses])
      z = np.exp(xi) / np.exp(xi).sum()
      d = l + 1e-8
      c = (z / d).sum()
      objective = tf.add_n([float(z[i] / c) * tf.math.log(losses[i] + 1e-8)
                            for i in range(2)])
    for v, g in zip(ref.trainable_variables,
                    tape.gradient(objective, ref.trainable_variables)):
      v.assign_sub(LR * g)
    after = np.array([float(v) for v in _losses(ref, x, y)])
    delta = np.log(l + 1e-8) - np.log(after + 1e-8)
    xi = adam.step(xi, z * (delta - (z * delta).sum()))
    np.testing.assert_allclose(method.logits.numpy(), xi, rtol=1e-4,
                               atol=1e-6)
  for a, b in zip(model.trainable_variables, ref.trainable_variables):
    np.testing.assert_allclose(a, b, atol=1e-5)
  assert not np.allclose(xi, 0)
