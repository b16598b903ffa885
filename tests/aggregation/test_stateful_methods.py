"""State of gradvac, db_mtl, moco, excess_mtl: checkpointed, rolled back.

The train step restores a method's non-trainable variables when it skips a
non-finite step; a checkpoint of the method holds its state.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import methods
from tfmtl.models.hard_sharing import HardSharingMLP
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step

NAMES = ["gradvac", "db_mtl", "moco", "excess_mtl"]


def _mse(y, p):
  return tf.reduce_mean(tf.square(y - p), axis=-1)


def _setup(name):
  model = HardSharingMLP(["a", "b"], trunk_units=(4,), tower_units=(2,),
                         dropout=0.0, seed=1)
  model(tf.zeros([1, 3]))
  method = methods.get(name)
  step = make_train_step(model, [Task("a", _mse), Task("b", _mse)], method,
                         keras.optimizers.SGD(0.05))
  return method, step


def _batch(seed, nan=False):
  x = np.random.default_rng(seed).normal(size=(8, 3)).astype(np.float32)
  a = x[:, :1] * 2
  if nan:
    a[2] = np.nan
  return tf.constant(x), {"a": tf.constant(a),
                          "b": tf.constant(np.sin(x[:, 1:2]))}


def _state(method):
  return [np.array(v) for v in method.variables]


@pytest.mark.parametrize("name", NAMES)
def test_skipped_step_leaves_the_state(name, tmp_path):
  method, step = _setup(name)
  step(_batch(0))
  step(_batch(1))
  before = _state(method)
  assert any(np.any(v != 0) for v in before)
  logs = step(_batch(2, nan=True))
  assert int(logs["nonfinite_skips"]) == 1
  for x, y in zip(before, _state(method)):
    np.testing.assert_array_equal(x, y)
  # A checkpoint holds the state: restore it after another step.
  path = tf.train.Checkpoint(method=method).write(str(tmp_path / "ckpt"))
  step(_batch(3))
  assert any(np.any(x != y) for x, y in zip(before, _state(method)))
  tf.train.Checkpoint(method=method).read(path).assert_consumed()
  for x, y in zip(before, _state(method)):
    np.testing.assert_array_equal(x, y)
