"""The engine's phases in order: the gradient that reaches the optimizer is
clip(method(J)) — the method first, then the global-norm clip, then the
per-variable clip by value (clipping J's rows before the method would give
another update)."""

import keras
import numpy as np
import tensorflow as tf

from tfmtl import methods
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step

from tests.helpers import mse, tiny_model


def test_optimizer_sees_clip_of_the_method_output():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(6, 3)).astype(np.float32)
  y = {"a": 3 * rng.normal(size=(6, 1)).astype(np.float32),
       "b": -2 * rng.normal(size=(6, 1)).astype(np.float32)}
  model = tiny_model()
  start = [np.asarray(v) for v in model.trainable_variables]
  norm, value = 0.3, 0.02
  step = make_train_step(
      model, [Task("a", mse), Task("b", mse, weight=0.5)],
      methods.get("pcgrad"), keras.optimizers.SGD(1.0),  # update = −grad
      clip_global_norm=norm, clip_by_value={"dense_.*/kernel": value},
      function=False)
  step((x, y))

  ref = tiny_model()
  shared, heads = ref.trainable_variables[:2], ref.trainable_variables[2:]
  with tf.GradientTape(persistent=True) as tape:
    out = ref(x)
    losses = [tf.reduce_mean(mse(y[t], out[t])) for t in "ab"]
  J = tf.stack([tf.concat([tf.reshape(g, [-1]) for g in
                           tape.gradient(l, shared)], 0) for l in losses])
  d = methods.get("pcgrad")(J).numpy()
  grads, offset = [], 0
  for v in start[:2]:
    grads.append(d[offset:offset + v.size].reshape(v.shape))
    offset += v.size
  for i, w in enumerate((1.0, 0.5)):
    grads += [w * np.asarray(g) for g in
              tape.gradient(losses[i], heads[2 * i:2 * i + 2])]
  total = np.sqrt(sum(np.sum(g ** 2) for g in grads))
  assert total > norm  # the clip acts
  grads = [g * norm / total for g in grads]
  paths = [v.path for v in model.trainable_variables]
  grads = [np.clip(g, -value, value) if ("kernel" in p and "dense_" in p)
           else g for g, p in zip(grads, paths)]
  assert any("dense_" in p and "kernel" in p for p in paths)
  for v, s, g in zip(model.trainable_variables, start, grads):
    np.testing.assert_allclose(s - np.asarray(v), g, atol=1e-6)
