"""FAMO: two train steps equal a transcription of LibMTL/weighting/FAMO.py
(backward on Σ z/c · log D, then `update_w` with the same batch's losses
after the optimizer step; the logits' torch Adam with weight decay)."""

import keras
import numpy as np
import tensorflow as tf

from tfmtl import methods
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step
from tfmtl.weighting.famo import FAMO

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


def test_absent_task_famo_on_the_present_tasks():
  """Direct calls, 3 tasks. A step with all present, then one with b
  absent: z is the softmax over a and c (Σ_present w = 1, w_b = 0), the
  logits' Adam step is on δ of a and c only, and b's logit, moments, Adam
  count and stored loss stay. numpy transcription, per-task Adam."""
  lr, gamma, eps = 0.2, 1e-2, 1e-8
  famo = FAMO(lr=lr, gamma=gamma)
  famo.build([Task(n, mse) for n in "abc"])
  # The transcription runs in float64 on the float32 inputs the method
  # holds (logits, losses).
  f32 = lambda x: np.asarray(x, np.float32).astype(np.float64)  # noqa: E731
  xi = f32([0.3, -0.2, 0.5])
  famo.logits.assign(xi.astype(np.float32))
  m, v, n = np.zeros(3), np.zeros(3), np.zeros(3)
  steps = [(f32([1.2, 0.7, 2.0]), f32([1.0, 0.6, 1.5]), [True] * 3),
           (f32([0.9, 0.0, 1.8]), f32([0.8, 0.0, 1.2]), [True, False, True])]
  for before, after, mask in steps:
    p = np.array(mask)
    present = tf.constant(mask)
    w = famo(tf.constant(before, tf.float32), 0, present=present).numpy()
    z = np.where(p, np.exp(xi), 0.0) / np.exp(xi)[p].sum()
    d = np.array(before) + eps
    c = (z / d)[p].sum()
    np.testing.assert_allclose(w, np.where(p, z / (c * d), 0.0), rtol=1e-5)
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-6)
    old_b = [float(x[1]) for x in (famo.logits, famo.m, famo.v, famo.count)]
    famo.update_after(tf.constant(after, tf.float32), present=present)
    delta = np.where(p, np.log(d) - np.log(np.array(after) + eps), 0.0)
    grad = z * (delta - (z * delta).sum()) + gamma * xi
    n = np.where(p, n + 1, n)
    m = np.where(p, 0.9 * m + 0.1 * grad, m)
    v = np.where(p, 0.999 * v + 0.001 * grad ** 2, v)
    # The bias corrections raise float32 β's (0.999 is 0.999 + 1.3e-8:
    # 1 − β₂ is then 1.3e-5 off, Adam's step 6.4e-6 of lr): so do we.
    b1, b2 = float(np.float32(0.9)), float(np.float32(0.999))
    step = lr * (m / (1 - b1 ** n)) / (np.sqrt(v / (1 - b2 ** n)) + 1e-8)
    xi = np.where(p, xi - step, xi)
    np.testing.assert_allclose(famo.logits.numpy(), xi, rtol=1e-5,
                               atol=1e-5)
    if not mask[1]:
      assert old_b == [float(x[1]) for x in (famo.logits, famo.m, famo.v,
                                             famo.count)]
      assert famo.previous[1] == np.float32(0.7)  # the last present loss
  np.testing.assert_array_equal(famo.count.numpy(), [2, 1, 2])
