"""Every registered balancing method through the same checks.

Parametrised over `tfmtl.methods.names()`, so methods added later are
checked too. Each method trains a tiny plain functional Keras model (a
shared trunk and one tower per task, nothing tfmtl-specific: its split is
inferred) on fixed batches for a few steps:
- the logs are finite and the aggregated gradient has shape [n];
- eager == tf.function (weights after the steps, 1e-5);
- the tf.function step does not retrace on later calls;
- MirroredStrategy over 2 logical CPUs == single device (1e-5).
Methods that need constructor arguments get them from KWARGS.
"""

import numpy as np
import pytest
import tensorflow as tf

import keras

from tfmtl import methods
from tfmtl.aggregation.base import Aggregator
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step

from tests.helpers import task_names_for

KWARGS = {
    "dwa": dict(steps_per_epoch=1),  # epochs of one step: DWA's rule kicks in
    "rlw": dict(seed=3),
    "graddrop": dict(seed=3),
    "dwa+mgda": dict(weighting_kwargs=dict(steps_per_epoch=1)),
    "stch": dict(steps_per_epoch=1, warmup_epochs=0),  # STCH from step 1
}
# Compositions (aggregation/composed.py): a stateful trainable weighting and
# a stateful one, each with a gradient aggregation.
COMPOSITIONS = ["uncertainty+pcgrad", "dwa+mgda"]
# methods that need an auxiliary task: task "b"
AUX = {"atg", "prf", "cosine", "cosine_weighted", "aux_project",
       "metabalance"}
STEPS = 3
BATCH = 8
NAMES = ["a", "b"]


def _names(name):
  # As many tasks as the method's rule needs (its min_tasks), at least two.
  return task_names_for(name, KWARGS.get(name), NAMES)


def _mse(y, p):
  return tf.reduce_mean(tf.square(y - p), axis=-1)


def _kpi(y, p):
  return tf.reduce_mean(tf.exp(-tf.abs(y - p)))


def _tasks(name):
  roles = ("main", "aux" if name in AUX else "main", "main")
  return [Task(n, _mse, weight=w, role=r, kpi=_kpi)
          for n, w, r in zip(_names(name), (1.0, 0.5, 0.8), roles)]


def _batches(per_step=1):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(STEPS * per_step * BATCH, 4)).astype(np.float32)
  y = {"a": x[:, :1] * 2.0, "b": np.sin(x[:, 1:2]) - x[:, 2:3],
       "c": x[:, 3:4] * x[:, 0:1]}
  return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)


def _functional_model(names=tuple(NAMES)):
  init = keras.initializers.GlorotUniform(seed=1)
  x = keras.Input((4,))
  h = keras.layers.Dense(6, activation="relu", kernel_initializer=init)(x)
  out = {}
  for i, t in enumerate(names):
    tower = keras.layers.Dense(3, activation="relu", kernel_initializer=(
        keras.initializers.GlorotUniform(seed=10 + i)))(h)
    out[t] = keras.layers.Dense(1, kernel_initializer=(
        keras.initializers.GlorotUniform(seed=20 + i)))(tower)
  return keras.Model(x, out)


def _run(name, strategy=None, function=True):
  strategy = strategy or tf.distribute.get_strategy()
  with strategy.scope():
    model = _functional_model(_names(name))
    method = methods.get(name, **KWARGS.get(name, {}))
    opt = keras.optimizers.SGD(0.05)
    step = make_train_step(model, _tasks(name), method, opt, strategy=strategy,
                           function=function)
  data = _batches(step.batches_per_step)
  if strategy is not tf.distribute.get_strategy():
    data = strategy.experimental_distribute_dataset(data)
  batches = iter(data)
  logs = [step(step.draw(batches)) for _ in range(STEPS)]
  return model, method, step, logs


def _weights(model):
  return [np.asarray(v) for v in model.trainable_variables]


@pytest.fixture
def strategy(mirrored):
  return mirrored


@pytest.mark.parametrize("name", methods.names() + COMPOSITIONS)
def test_contract(name, strategy):
  model, method, step, logs = _run(name)
  for entry in logs:
    for key, value in entry.items():
      assert np.all(np.isfinite(np.asarray(value))), (name, key)
  assert step._step.experimental_get_tracing_count() == 1, name
  # Aggregators: the combined gradient of a direct call has shape [n].
  if isinstance(method, Aggregator):
    n = sum(int(tf.size(v)) for v in step.split.shared_variables)
    t = len(_names(name))
    J = tf.random.stateless_normal([t, n], [1, 2])
    extra = {"variance": tf.ones_like(J), "losses": tf.ones([t]),
             "step": tf.constant(0, tf.int64)}
    out = method(J, **{k: extra[k] for k in method.needs if k in extra})
    assert out.shape == (n,) and np.all(np.isfinite(out)), name

  eager, _, _, _ = _run(name, function=False)
  for a, b in zip(_weights(model), _weights(eager)):
    np.testing.assert_allclose(a, b, atol=1e-5, err_msg=f"{name}: eager")

  dist, _, dstep, _ = _run(name, strategy=strategy)
  assert dstep._step.experimental_get_tracing_count() == 1, name
  for a, b in zip(_weights(model), _weights(dist)):
    np.testing.assert_allclose(a, b, atol=1e-5, err_msg=f"{name}: mirrored")


# === A task with no labelled example in a step ===
# Three tasks for every method (auxiliary methods: a main, b and c aux);
# step 2 has no label of b (its labels are NaN there, weight 0), step 3
# none of a. Adam: after step 1 its moments would move an absent task's
# variables with a zero gradient; the step holds them (engine/apply.py).
ABSENT = {1: "b", 2: "a"}
# State variables that only record the last step's weights or gates for
# the logs (0 for an absent task is what they should show).
LOGGED = ("alpha", "gates", "cosines", "_means", "loss_weights")


def _absent_batches(per_step=1):
  rng = np.random.default_rng(1)
  out = []
  for s in range(STEPS):
    group = []
    for _ in range(per_step):
      x = rng.normal(size=(BATCH, 4)).astype(np.float32)
      y = {"a": x[:, :1] * 2.0, "b": np.sin(x[:, 1:2]) - x[:, 2:3],
           "c": x[:, 3:4] * x[:, 0:1]}
      w = {t: np.ones([BATCH], np.float32) for t in "abc"}
      if s in ABSENT:
        y[ABSENT[s]] = np.full_like(y[ABSENT[s]], np.nan)
        w[ABSENT[s]] = np.zeros([BATCH], np.float32)
      group.append((tf.constant(x), {k: tf.constant(v) for k, v in y.items()},
                    {k: tf.constant(v) for k, v in w.items()}))
    out.append(group[0] if per_step == 1 else tuple(group))
  return out


def _absent_tasks(name):
  roles = ("main", "aux", "aux") if name in AUX else ("main",) * 3
  return [Task(n, _mse, weight=w, role=r, kpi=_kpi)
          for n, w, r in zip("abc", (1.0, 0.5, 0.8), roles)]


def _task_slices(method, index, t=3):
  """Every per-task entry of the method's state for task `index`: slices
  along each axis of size T (the model has no other dimension of 3)."""
  out = {}
  for v in method.variables:
    if any(k in v.name for k in LOGGED):
      continue
    value = np.asarray(v)
    for axis, d in enumerate(value.shape):
      if d == t:
        out[f"{v.name}[axis {axis}]"] = np.take(value, index, axis=axis)
  return out


@pytest.mark.parametrize("name", methods.names() + COMPOSITIONS)
def test_absent_task(name):
  """No labelled example of a task in a step: the update is finite, the
  task's own variables and the method's state for it don't move, and its
  logged weight is 0."""
  model = _functional_model(tuple("abc"))
  method = methods.get(name, **KWARGS.get(name, {}))
  tasks = _absent_tasks(name)
  step = make_train_step(model, tasks, method, keras.optimizers.Adam(0.05))
  split = step.split
  for s, batch in enumerate(_absent_batches(step.batches_per_step)):
    gone = ABSENT.get(s)
    if gone is not None:
      i = "abc".index(gone)
      own = [np.asarray(v) for v in split.task_variables(gone)]
      state = _task_slices(method, i)
    logs = step(batch)
    for key, value in logs.items():
      assert np.all(np.isfinite(np.asarray(value))), (name, s, key)
    for v in model.trainable_variables:
      assert np.all(np.isfinite(np.asarray(v))), (name, s, v.path)
    if gone is None:
      continue
    assert float(logs[f"weight/{gone}"]) == 0.0, (name, s)
    for before, v in zip(own, split.task_variables(gone)):
      np.testing.assert_array_equal(before, np.asarray(v),
                                    err_msg=f"{name}: {v.path} moved")
    after = _task_slices(method, i)
    for key, before in state.items():
      np.testing.assert_array_equal(
          before, after[key], err_msg=f"{name}: state {key} of absent "
          f"task {gone} moved")
  assert step._step.experimental_get_tracing_count() == 1, name
