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


def assert_on_grid(decoded, value, step, slack=1e-9, rtol=0.0):
  """`decoded` is `value` rounded to the nearest multiple of `step`, exactly.

  The check of a quantising writer and its reader: no tolerance on the
  read side, so no maximum error that creeps up to half a step. Where
  `value` lies within `slack` steps of a midpoint either neighbour is
  accepted: exact ties (any rounding rule), and the writer's own float32
  round-off before it rounds (its caller says how large, with 10× margin).
  `rtol`: how far from a grid point a decoded value may be, relative, for
  a step that is no power of 2 (k/65535 decoded in float32: 2⁻²⁴ relative
  per operation).
  """
  k = np.asarray(decoded, np.float64) / step
  np.testing.assert_allclose(k, np.round(k), rtol=rtol, atol=0)  # on the grid
  k = np.round(k)
  x = np.asarray(value, np.float64) / step
  lo, hi = np.floor(x + 0.5 - slack), np.floor(x + 0.5 + slack)
  bad = (k < lo) | (k > hi)
  assert not bad.any(), (
      f"{bad.sum()} of {bad.size} values off the nearest grid point: "
      f"decoded {np.asarray(decoded)[bad][:3]}, value {np.asarray(value)[bad][:3]}")


# KITTI's 16-bit flow PNG stores round(64·u + 2¹⁵): in float32 the sum, in
# [2¹⁵, 2¹⁶), is rounded to 2⁻⁹ before it is rounded to an integer, so a
# value within 2⁻⁹ ≈ 0.002 steps of a midpoint may go either way; 0.02 is
# that with 10× margin.
FLOW_PNG_SLACK = 0.02
# A confidence k/65535 decoded in float32 (a cast and a division, each
# ≤ 2⁻²⁴ relative): 2e-6 is ≥ 10× that.
CONFIDENCE_RTOL = 2e-6


def assert_rounds_to(actual, printed, decimals):
  """`actual` rounds to `printed`, a published value given to `decimals`
  places: the most a rounded golden value says (within half a unit of its
  last place), without a tolerance that the rounding itself uses up. The
  caller notes how far `actual` is from a rounding midpoint compared with
  its float32 error."""
  np.testing.assert_array_equal(
      np.round(np.asarray(actual, np.float64), decimals), printed)


def toy_cli_config(**overrides):
  """configs/toy_two_task.py:runlocal for the CLI-path tests: 2 steps, a
  checkpoint at the end, one eval batch."""
  from configs import toy_two_task  # pylint: disable=g-import-not-at-top
  c = toy_two_task.get_config("runlocal")
  c.update(dict(steps=2, log_every=1, checkpoint_every=2, eval_batch_size=500))
  c.data.kwargs.n = 1000
  c.update(overrides)
  return c
