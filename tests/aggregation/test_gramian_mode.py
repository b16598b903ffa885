"""`gramian_mode=True`: the Gramian formed block by block, J never whole.

For every Gramian-based method, one step in Gramian mode (every shared
variable its own block, so G is summed over four blocks) gives the weights
of the J path, on a 3-task model, with an absent task, and under
MirroredStrategy over two logical CPUs.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import aggregation, methods
from tfmtl.engine import gradients, make_train_step
from tfmtl.errors import UserError
from tfmtl.tasks import Task

GRAMIAN = sorted(
    n for n in aggregation.AGGREGATORS.names()
    if isinstance(aggregation.AGGREGATORS.factory(n), type) and
    "gramian_mode" in __import__("tfmtl.options", fromlist=["x"]).shared_of(
        aggregation.AGGREGATORS.factory(n)))
TINY = 1e-6  # MiB: every variable a block of its own
KWARGS = {"krum": dict(n_byzantine=0), "pcgrad": dict(randomised=True)}


def _model():
  init = lambda s: keras.initializers.GlorotUniform(seed=s)  # noqa: E731
  x = keras.Input((5,))
  h = keras.layers.Dense(6, activation="tanh", kernel_initializer=init(1))(x)
  h = keras.layers.Dense(4, activation="tanh", kernel_initializer=init(2))(h)
  return keras.Model(x, {t: keras.layers.Dense(1, kernel_initializer=init(
      3 + i))(h) for i, t in enumerate("abc")})


def _batch(absent=False):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(8, 5)).astype(np.float32)
  y = {t: (i + 1.0) * rng.normal(size=(8, 1)).astype(np.float32)
       for i, t in enumerate("abc")}
  if not absent:
    return x, y
  return x, y, {"a": np.ones(8, np.float32), "b": np.zeros(8, np.float32),
                "c": np.ones(8, np.float32)}


def _step(name, strategy=None, **options):
  strategy = strategy or tf.distribute.get_strategy()
  with strategy.scope():
    model = _model()
    model(tf.zeros([1, 5]))
    method = methods.get(name, **KWARGS.get(name, {}), **options)
    step = make_train_step(model, [Task(t, "mse") for t in "abc"], method,
                           keras.optimizers.SGD(0.1), strategy=strategy)
  return model, step


def _after(name, batch, strategy=None, **options):
  model, step = _step(name, strategy, **options)
  if strategy is not None:
    batch = next(iter(strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensors(batch))))
  step(batch)
  return [np.asarray(v) for v in model.trainable_variables]


@pytest.mark.parametrize("name", GRAMIAN)
def test_gramian_mode_equals_the_j_path(name):
  for absent in (False, True):
    want = _after(name, _batch(absent))
    got = _after(name, _batch(absent), gramian_mode=True,
                 gramian_block_mib=TINY)
    # float32 sums of the same products in another order (G summed over
    # blocks, Jᵀw by one backward): ~1e-7 of the weights, 1e-5 checked.
    for a, b in zip(got, want):
      np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    assert not np.allclose(want[0], _model().trainable_variables[0])


def test_gramian_mode_equals_the_j_path_under_mirrored(mirrored):
  want = _after("upgrad", _batch(), mirrored)
  got = _after("upgrad", _batch(), mirrored, gramian_mode=True,
               gramian_block_mib=TINY)
  single = _after("upgrad", _batch(), gramian_mode=True,
                  gramian_block_mib=TINY)
  for a, b, c in zip(got, want, single):
    np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    np.testing.assert_allclose(a, c, atol=1e-5, rtol=0)


def test_blocks_are_formed_from_the_output_side_within_the_budget():
  model = _model()
  model(tf.zeros([1, 5]))
  shared = model.trainable_variables[:4]  # kernel, bias of both trunk layers
  # T = 3 tasks × 4 bytes: 5×6 kernel 360 B, bias 72 B, 6×4 kernel 288 B,
  # bias 48 B. A 400-byte budget, from the top: b2 + k2 = 336; b1 would
  # make 408, so it starts a block; k1 would make 432: a block of its own.
  got = gradients.blocks(shared, 3, 400.0)
  assert [[tuple(v.shape) for v in b] for b in got] == [
      [(6, 4), (4,)], [(6,)], [(5, 6)]]
  assert len(gradients.blocks(shared, 3, 1e9)) == 1


def test_gramian_mode_is_an_option_of_gramian_methods_only():
  assert "gramian_mode" in [o.name for o in methods.describe("upgrad").options]
  with pytest.raises(UserError, match="has no option 'gramian_mode'"):
    methods.get("graddrop", gramian_mode=True)
  with pytest.raises(UserError, match="gramian_mode and rep_grad"):
    _step("mgda", gramian_mode=True, rep_grad=True)
  with pytest.raises(UserError, match="can't be composed"):
    _step("uncertainty+upgrad", aggregator_kwargs=dict(gramian_mode=True))
