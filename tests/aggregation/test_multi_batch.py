"""MoDo and SDMGrad: methods that read three independent batches a step.

Two calls equal numpy transcriptions of LibMTL/weighting/MoDo.py and
LibMTL/weighting/SDMGrad.py (state carried between calls), and one train
step hands each method the Jacobians of the three batches it drew, in order.
"""

import keras
import numpy as np
import tensorflow as tf

from tfmtl import methods
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step

from tests.helpers import mse, tiny_model


def _simplex(y):
  """LibMTL's _projection2simplex (MoDo) / euclidean_proj_simplex."""
  u = np.sort(y)[::-1]
  css = np.cumsum(u)
  rho = np.nonzero(u * np.arange(1, len(y) + 1) > (css - 1))[0][-1]
  return np.maximum(y - (css[rho] - 1) / (rho + 1.0), 0)


def _modo(lam, grads, gamma, rho):
  lam = _simplex(lam - gamma * (grads[0] @ (grads[1].T @ lam) + rho * lam))
  return lam, lam @ grads[2]


def _sdmgrad(w, grads, lamda, niter):
  zeta, xi1, xi2 = grads
  gg = xi1 @ xi2.T
  scale = np.mean(np.sqrt(np.maximum(np.diag(gg), 0)))
  gg = gg / (scale ** 2 + 1e-8)
  gg_mean = gg.mean(axis=1)
  buf = None
  for _ in range(niter):
    grad = gg @ w + lamda * gg_mean
    buf = grad if buf is None else 0.5 * buf + grad
    w = _simplex(w - 5 * buf)
  g = (zeta.T @ w + lamda * zeta.mean(axis=0)) / (1 + lamda)
  return w, g


def _jacobians(seed):
  rng = np.random.default_rng(seed)
  base = rng.normal(size=(3, 7))
  return np.stack([base + 0.5 * rng.normal(size=(3, 7)) for _ in range(3)])


# The transcriptions are compared in float64: SDMGrad's 20 momentum steps
# of size 5 amplify float32 round-off ~350× (2e-5 on d, from 6e-8), and
# how much depends on the machine's kernels (oneDNN on or off). In
# float64 the same amplification leaves ~1e-13; checked at 1e-9. The state
# (λ, w) is kept in float32: each call's transcription starts from the
# stored value, which is the float64 result rounded (half an ulp of a
# weight ≤ 1: ≤ 6e-8; checked at 1e-6).
D_ATOL, STATE_ATOL = 1e-9, 1e-6
START = np.full(3, np.float32(1 / 3), np.float64)  # the stored 1/T


def _stored(method, name):
  return getattr(method, name).numpy().astype(np.float64)


def test_modo_two_calls_equal_libmtl():
  method = methods.get("modo", gamma=0.05, rho=0.2)
  method.build([Task(t, mse) for t in "abc"], num_params=7)
  lam = START
  for seed in (0, 1):
    grads = _jacobians(seed)
    lam, d = _modo(lam, grads, 0.05, 0.2)
    got = method(tf.constant(grads[2], tf.float64),
                 jacobians=tf.constant(grads, tf.float64))
    np.testing.assert_allclose(got, d, atol=D_ATOL)
    np.testing.assert_allclose(method.lambd.numpy(), lam, atol=STATE_ATOL)
    lam = _stored(method, "lambd")
  assert np.abs(lam - 1 / 3).max() > 5e-3  # it moved (by 0.06)


def test_sdmgrad_two_calls_equal_libmtl():
  method = methods.get("sdmgrad", lamda=0.3, niter=20)
  method.build([Task(t, mse) for t in "abc"], num_params=7)
  w = START
  for seed in (2, 3):
    grads = _jacobians(seed)
    w, d = _sdmgrad(w, grads, 0.3, 20)
    got = method(tf.constant(grads[0], tf.float64),
                 jacobians=tf.constant(grads, tf.float64))
    np.testing.assert_allclose(got, d, atol=D_ATOL)
    np.testing.assert_allclose(method.w.numpy(), w, atol=STATE_ATOL)
    w = _stored(method, "w")
  assert np.abs(w - 1 / 3).max() > 5e-3  # it moved


def test_the_step_draws_three_batches_and_passes_their_jacobians():
  rng = np.random.default_rng(4)
  batches = [(rng.normal(size=(5, 3)).astype(np.float32),
              {t: rng.normal(size=(5, 1)).astype(np.float32) for t in "ab"})
             for _ in range(3)]
  model = tiny_model()
  start = [np.asarray(v) for v in model.trainable_variables]
  method = methods.get("modo", gamma=0.1, rho=0.1)
  step = make_train_step(model, [Task(t, mse) for t in "ab"], method,
                         keras.optimizers.SGD(0.1), function=False)
  assert step.batches_per_step == 3
  logs = step(step.draw(iter(batches)))

  ref = tiny_model()
  shared, heads = ref.trainable_variables[:2], ref.trainable_variables[2:]
  jacobians, own, losses = [], [], []
  for x, y in batches:
    with tf.GradientTape(persistent=True) as tape:
      out = ref(x)
      task_losses = [tf.reduce_mean(mse(y[t], out[t])) for t in "ab"]
    jacobians.append(np.stack([np.concatenate(
        [np.ravel(g) for g in tape.gradient(l, shared)])
                               for l in task_losses]))
    own.append([np.asarray(g) for i, l in enumerate(task_losses)
                for g in tape.gradient(l, heads[2 * i:2 * i + 2])])
    losses.append([float(l) for l in task_losses])
  lam, d = _modo(np.full(2, 0.5), np.stack(jacobians), 0.1, 0.1)
  expected = []
  offset = 0
  for v in start[:2]:
    n = v.size
    expected.append(v - 0.1 * d[offset:offset + n].reshape(v.shape))
    offset += n
  for j, v in enumerate(start[2:]):
    expected.append(v - 0.1 * np.mean([o[j] for o in own], axis=0))
  for got, want in zip(model.trainable_variables, expected):
    np.testing.assert_allclose(got, want, atol=1e-5)
  np.testing.assert_allclose(method.lambd.numpy(), lam, atol=1e-6)
  np.testing.assert_allclose(float(logs["loss/a"]),
                             np.mean([l[0] for l in losses]), rtol=1e-5)


def _absent_second_call(name, transcription, state_name, kwargs, args):
  """First call all present, second with task 1 absent (its rows, nonzero
  here, ignored): the present tasks' weights are the transcription on
  tasks 0, 2 from their weights rescaled to sum 1, scaled back to their
  total; task 1's weight stays."""
  method = methods.get(name, **kwargs)
  method.build([Task(t, mse) for t in "abc"], num_params=7)
  step = tf.function(method)
  grads = _jacobians(5)
  lam, _ = transcription(START, grads, *args)
  step(tf.constant(grads[0], tf.float64),
       jacobians=tf.constant(grads, tf.float64),
       present=tf.constant([True] * 3))
  before = getattr(method, state_name).numpy()
  np.testing.assert_allclose(before, lam, atol=STATE_ATOL)
  lam = before.astype(np.float64)
  grads = _jacobians(6)
  keep = [0, 2]
  total = lam[keep].sum()
  sub, d = transcription(lam[keep] / total, grads[:, keep], *args)
  got = step(tf.constant(grads[0], tf.float64),
             jacobians=tf.constant(grads, tf.float64),
             present=tf.constant([True, False, True]))
  after = getattr(method, state_name).numpy()
  np.testing.assert_allclose(got, d, atol=D_ATOL)
  assert after[1] == before[1]
  np.testing.assert_allclose(after[keep], total * sub, atol=STATE_ATOL)
  np.testing.assert_allclose(after.sum(), 1.0, atol=STATE_ATOL)
  assert np.abs(after - before).max() > 1e-3


def test_modo_absent_task():
  _absent_second_call("modo", _modo, "lambd", dict(gamma=0.05, rho=0.2),
                      (0.05, 0.2))


def test_sdmgrad_absent_task():
  _absent_second_call("sdmgrad", _sdmgrad, "w",
                      dict(lamda=0.3, niter=20), (0.3, 20))
