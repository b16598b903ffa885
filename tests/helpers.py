"""Small builders shared by tests: a toy model, tasks and a train loop."""

import keras
import numpy as np
import tensorflow as tf

from tfmtl import data, models
from tfmtl import tasks as tasks_lib
from tfmtl.engine import make_train_step


def toy_setup(method, *, sigmas=None, seed=0, lr=1e-3, strategy=None,
              batch_size=100, dropout=0.0):
  """(source, model, tasks, step) on a toy problem, same init per seed."""
  if sigmas is None:
    source = data.get("correlated_regression")
    kwargs = dict(output_dim=1, trunk_units=[64], tower_units=[32, 16])
  else:
    source = data.get("gradnorm_toy", sigmas=sigmas, n=4000)
    kwargs = dict(output_dim=100, trunk_units=[100] * 4, tower_units=[])
  tasks = tasks_lib.from_config(
      {n: {"loss": "mse"} for n in source.task_names})
  strategy = strategy or tf.distribute.get_strategy()
  x, _ = source.arrays("train")
  with strategy.scope():
    model = models.get("hard_sharing", task_names=source.task_names,
                       dropout=dropout, seed=seed, **kwargs)
    model(x[:2])
    optimizer = keras.optimizers.Adam(lr)
  step = make_train_step(model, tasks, method, optimizer, strategy=strategy)
  return source, model, tasks, step


def batches(source, batch_size, steps, seed=0):
  """A fixed, repeatable sequence of training batches (numpy)."""
  x, y = source.arrays("train")
  rng = np.random.default_rng(seed)
  for _ in range(steps):
    idx = rng.choice(len(x), batch_size, replace=False)
    yield x[idx], {k: v[idx] for k, v in y.items()}


def eval_losses(model, tasks, source):
  x, y = source.arrays("test")
  out = model(x, training=False)
  return {t.name: float(tf.reduce_mean(t.loss(y[t.name], out[t.name])))
          for t in tasks}


def mse(y, p):
  """Per-example mean squared error."""
  return tf.reduce_mean(tf.square(y - p), axis=-1)


def tiny_model(tasks="ab", inputs=3, hidden=4):
  """A plain functional model: a tanh trunk and one linear head a task,
  seeded initialisers (the same weights every call)."""
  x = keras.Input((inputs,))
  h = keras.layers.Dense(hidden, activation="tanh", kernel_initializer=(
      keras.initializers.GlorotUniform(seed=0)))(x)
  return keras.Model(x, {t: keras.layers.Dense(1, kernel_initializer=(
      keras.initializers.GlorotUniform(seed=i + 1)))(h)
                         for i, t in enumerate(tasks)})


def task_names_for(name, kwargs=None, names=("a", "b")):
  """`names` extended to the fewest tasks method `name` works with (its
  declared `min_tasks`: Krum needs T >= f + 3, TrimmedMean T >= 2k + 1)."""
  from tfmtl import methods  # pylint: disable=g-import-not-at-top
  need = methods.get(name, **(kwargs or {})).min_tasks
  extra = max(0, need - len(names))
  return list(names) + [chr(ord("c") + i) for i in range(extra)]
