"""`rep_grad=True`: every Gramian-based method at the representation level.

One step on a plain functional 3-task model (its representation inferred:
the trunk output and a layer two of the three tasks read) equals the rule
written out by hand: G = J_Z J_Zᵀ from separate tapes, w from the method's
own `weights_from_gramian`, the shared update (∂Z/∂θ)ᵀ Σ_t w_t ∇_Z L_t.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import aggregation
from tfmtl.aggregation.solvers import GramianWeighted
from tfmtl.errors import UserError
from tfmtl.models.split import TaskSplit
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step

LR = 0.1
GRAMIAN = sorted(
    n for n in aggregation.AGGREGATORS.names()
    if not n.endswith("_ub") and isinstance(
        aggregation.AGGREGATORS.factory(n), type) and issubclass(
            aggregation.AGGREGATORS.factory(n), GramianWeighted))


def _mse(y, p):
  return tf.reduce_mean(tf.square(y - p), axis=-1)


def _model():
  init = lambda s: keras.initializers.GlorotUniform(seed=s)  # noqa: E731
  x = keras.Input((5,))
  h = keras.layers.Dense(6, activation="tanh", kernel_initializer=init(1))(x)
  p = keras.layers.Dense(4, activation="tanh", kernel_initializer=init(2))(h)
  return keras.Model(x, {
      "a": keras.layers.Dense(1, kernel_initializer=init(3))(p),
      "b": keras.layers.Dense(1, kernel_initializer=init(4))(p),
      "c": keras.layers.Dense(1, kernel_initializer=init(5))(h)})


def test_there_are_gramian_methods_to_check():
  assert {"mgda", "pcgrad", "upgrad", "imtl", "nash_mtl", "cagrad"} <= set(
      GRAMIAN)


@pytest.mark.parametrize("name", GRAMIAN)
def test_rep_grad_step_equals_the_rule(name):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(8, 5)).astype(np.float32)
  y = {t: (i + 1.0) * rng.normal(size=(8, 1)).astype(np.float32)
       for i, t in enumerate("abc")}
  tasks = [Task(t, _mse) for t in "abc"]
  model = _model()
  start = [np.asarray(v) for v in model.trainable_variables]
  method = aggregation.get(name, rep_grad=True)
  step = make_train_step(model, tasks, method, keras.optimizers.SGD(LR),
                         function=False)
  step((x, y))

  ref = _model()
  split = TaskSplit(ref)
  with tf.GradientTape(persistent=True) as tape:
    z, heads = split.call_split(x, training=True)
    out = heads(z)
    losses = [tf.reduce_mean(_mse(y[t], out[t])) for t in "abc"]
  z_grads = [tape.gradient(l, z, unconnected_gradients="zero") for l in losses]
  rows = tf.stack([tf.concat([tf.reshape(g, [-1]) for g in gs], 0)
                   for gs in z_grads])
  fresh = aggregation.get(name)
  fresh.build(tasks, num_params=1)
  extra = {"step": tf.constant(0, tf.int64), "losses": tf.stack(losses)}
  w = fresh.weights_from_gramian(
      tf.matmul(rows, rows, transpose_b=True),
      **{k: v for k, v in extra.items() if k in fresh.needs})
  seed = [sum(w[i] * z_grads[i][k] for i in range(3)) for k in range(len(z))]
  shared = split.shared_variables
  expected = {id(v): g for v, g in zip(
      shared, tape.gradient(z, shared, output_gradients=seed))}
  for t, loss in zip("abc", losses):
    for v in split.task_variables(t):
      expected[id(v)] = tape.gradient(loss, v)
  for got, v, s in zip(model.trainable_variables, ref.trainable_variables,
                       start):
    np.testing.assert_allclose(got, s - LR * np.asarray(expected[id(v)]),
                               atol=1e-5, err_msg=f"{name}: {v.path}")


def test_methods_without_a_gramian_form_are_refused():
  with pytest.raises(UserError, match="no representation-level form"):
    aggregation.get("graddrop", rep_grad=True)
