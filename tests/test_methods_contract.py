"""Every registered balancing method through the same checks.

Parametrised over `tfmtl.methods.names()`, so methods added later are
checked too. Each method trains a tiny hard-sharing model (no dropout, fixed
batches) for a few steps:
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
from tfmtl.models.hard_sharing import HardSharingMLP
from tfmtl.tasks import Task
from tfmtl.train_step import make_train_step

KWARGS = {
    "dwa": dict(steps_per_epoch=1),  # epochs of one step: DWA's rule kicks in
    "rlw": dict(seed=3),
    "graddrop": dict(seed=3),
}
# methods that need an auxiliary task: task "b"
AUX = {"atg", "prf", "cosine", "cosine_weighted", "aux_project",
       "metabalance"}
STEPS = 3
BATCH = 8
NAMES = ["a", "b"]


def _mse(y, p):
  return tf.reduce_mean(tf.square(y - p), axis=-1)


def _kpi(y, p):
  return tf.reduce_mean(tf.exp(-tf.abs(y - p)))


def _tasks(name):
  roles = ("main", "aux" if name in AUX else "main")
  return [Task(n, _mse, weight=w, role=r, kpi=_kpi)
          for n, w, r in zip(NAMES, (1.0, 0.5), roles)]


def _batches():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(STEPS * BATCH, 4)).astype(np.float32)
  y = {"a": x[:, :1] * 2.0, "b": np.sin(x[:, 1:2]) - x[:, 2:3]}
  return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)


def _run(name, strategy=None, function=True):
  strategy = strategy or tf.distribute.get_strategy()
  with strategy.scope():
    model = HardSharingMLP(NAMES, trunk_units=(6,), tower_units=(3,),
                           dropout=0.0, seed=1)
    model(tf.zeros([1, 4]))
    method = methods.get(name, **KWARGS.get(name, {}))
    opt = keras.optimizers.SGD(0.05)
    step = make_train_step(model, _tasks(name), method, opt, strategy=strategy,
                           function=function)
  data = _batches()
  if strategy is not tf.distribute.get_strategy():
    data = strategy.experimental_distribute_dataset(data)
  logs = [step(b) for b in data]
  return model, method, step, logs


def _weights(model):
  return [np.asarray(v) for v in model.trainable_variables]


@pytest.fixture
def strategy(mirrored):
  return mirrored


@pytest.mark.parametrize("name", methods.names())
def test_contract(name, strategy):
  model, method, step, logs = _run(name)
  for entry in logs:
    for key, value in entry.items():
      assert np.all(np.isfinite(np.asarray(value))), (name, key)
  assert step._step.experimental_get_tracing_count() == 1, name
  # Aggregators: the combined gradient of a direct call has shape [n].
  if isinstance(method, Aggregator):
    n = sum(int(tf.size(v)) for v in model.shared_variables)
    J = tf.random.stateless_normal([len(NAMES), n], [1, 2])
    extra = {"variance": tf.ones_like(J), "losses": tf.ones([len(NAMES)]),
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
