"""Composition `WEIGHTING+AGGREGATION` (tfmtl/aggregation/composed.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import methods
from tfmtl.aggregation.composed import Composed
from tfmtl.errors import UserError
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step

from tests.helpers import mse, tiny_model

LR = 0.1


def test_uncertainty_pcgrad_step_equals_its_definition():
  """One SGD step against the rule written out with separate tapes."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(6, 3)).astype(np.float32)
  y = {"a": rng.normal(size=(6, 1)).astype(np.float32),
       "b": 3 * rng.normal(size=(6, 1)).astype(np.float32)}
  tasks = [Task("a", mse), Task("b", mse)]
  model = tiny_model()
  start = [np.asarray(v) for v in model.trainable_variables]
  method = methods.get("uncertainty+pcgrad")
  step = make_train_step(model, tasks, method, keras.optimizers.SGD(LR),
                         function=False)
  s = np.array([0.3, -0.7], np.float32)
  method.weighting.trainable_variables[0].assign(s)
  step((x, y))

  ref = tiny_model()
  shared, own = ref.trainable_variables[:2], ref.trainable_variables[2:]
  with tf.GradientTape(persistent=True) as tape:
    out = ref(x)
    losses = [tf.reduce_mean(mse(y[t], out[t])) for t in "ab"]
  w = np.exp(-s) / 2  # Kendall's regression form
  J = np.stack([np.concatenate([np.ravel(g) for g in
                                tape.gradient(losses[i], shared)])
                for i in range(2)])
  d = methods.get("pcgrad")(tf.constant(w[:, None] * J)).numpy()
  sizes = [int(np.prod(v.shape)) for v in shared]
  expected = []
  offset = 0
  for v, n in zip(start[:2], sizes):
    expected.append(v - LR * d[offset:offset + n].reshape(v.shape))
    offset += n
  for i, t in enumerate("ab"):
    head = own[2 * i:2 * i + 2]
    for v, g in zip(start[2 + 2 * i:4 + 2 * i], tape.gradient(losses[i], head)):
      expected.append(v - LR * w[i] * np.asarray(g))
  for got, want in zip(model.trainable_variables, expected):
    np.testing.assert_allclose(got, want, atol=1e-6)
  # s descends Σ exp(−s) L / 2 + s / 2 with L held constant.
  L = np.array([float(l) for l in losses])
  np.testing.assert_allclose(
      method.weighting.trainable_variables[0].numpy(),
      s - LR * (-np.exp(-s) * L / 2 + 0.5), atol=1e-6)


def test_state_of_both_parts_is_checkpointed(tmp_path):
  method = methods.get("dwa+graddrop",
                       weighting_kwargs=dict(steps_per_epoch=1),
                       aggregator_kwargs=dict(seed=3))
  method.build([Task("a", mse), Task("b", mse)], num_params=4)
  for v in method.variables:
    if v.dtype.is_floating:
      v.assign(tf.fill(v.shape, 0.25))
  path = tf.train.Checkpoint(method=method).save(str(tmp_path / "c"))
  fresh = methods.get("dwa+graddrop",
                      weighting_kwargs=dict(steps_per_epoch=1),
                      aggregator_kwargs=dict(seed=3))
  fresh.build([Task("a", mse), Task("b", mse)], num_params=4)
  tf.train.Checkpoint(method=fresh).restore(path).assert_consumed()
  assert len(fresh.weighting.variables) >= 1
  for a, b in zip(method.variables, fresh.variables):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_bad_compositions_say_why():
  with pytest.raises(UserError, match="gradient norms"):
    methods.get("gradnorm+pcgrad")
  with pytest.raises(UserError, match="'pcgrad' in 'pcgrad\\+uncertainty' "
                     "is not a weighting"):
    methods.get("pcgrad+uncertainty")
  with pytest.raises(UserError, match="on the representation"):
    methods.get("fixed+mgda_ub")
  with pytest.raises(UserError, match="WEIGHTING\\+AGGREGATION"):
    methods.get("fixed+pcgrad+mgda")
  assert isinstance(methods.get("fixed+mgda"), Composed)


def test_imtl_hybrid_step_equals_libmtl():
  """One SGD step against LibMTL/weighting/IMTL.py written out in numpy."""
  rng = np.random.default_rng(1)
  x = rng.normal(size=(6, 3)).astype(np.float32)
  y = {"a": rng.normal(size=(6, 1)).astype(np.float32),
       "b": 4 * rng.normal(size=(6, 1)).astype(np.float32)}
  model = tiny_model()
  start = [np.asarray(v) for v in model.trainable_variables]
  method = methods.get("imtl_hybrid")
  step = make_train_step(model, [Task("a", mse), Task("b", mse)], method,
                         keras.optimizers.SGD(LR), function=False)
  s = np.array([0.2, -0.4], np.float32)
  method.weighting.trainable_variables[0].assign(s)
  step((x, y))

  ref = tiny_model()
  shared, heads = ref.trainable_variables[:2], ref.trainable_variables[2:]
  with tf.GradientTape(persistent=True) as tape:
    out = ref(x)
    losses = [tf.reduce_mean(mse(y[t], out[t])) for t in "ab"]
  scale = np.exp(s)
  grads = np.stack([scale[i] * np.concatenate(
      [np.ravel(g) for g in tape.gradient(losses[i], shared)])
                    for i in range(2)])
  unit = grads / np.linalg.norm(grads, axis=1, keepdims=True)
  d_mat = grads[0:1] - grads[1:]
  u_mat = unit[0:1] - unit[1:]
  alpha = grads[0] @ u_mat.T @ np.linalg.inv(d_mat @ u_mat.T)
  alpha = np.concatenate([[1 - alpha.sum()], alpha])
  new = alpha @ grads
  offset, expected = 0, []
  for v in start[:2]:
    expected.append(v - LR * new[offset:offset + v.size].reshape(v.shape))
    offset += v.size
  for i in range(2):
    for v, g in zip(start[2 + 2 * i:4 + 2 * i],
                    tape.gradient(losses[i], heads[2 * i:2 * i + 2])):
      expected.append(v - LR * scale[i] * np.asarray(g))
  for got, want in zip(model.trainable_variables, expected):
    np.testing.assert_allclose(got, want, atol=1e-5)
  L = np.array([float(l) for l in losses])
  np.testing.assert_allclose(method.weighting.trainable_variables[0].numpy(),
                             s - LR * (scale * L - 1), atol=1e-5)
