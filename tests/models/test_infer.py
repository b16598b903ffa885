"""The task split read from plain Keras models (tfmtl/models/split.py).

For each kind of model a user brings — functional, subclassed, a
`keras.Sequential` trunk with heads, a `keras.applications` backbone — the
inferred split equals the one written by hand, and the graph reading and the
dependency probe agree wherever both apply.
"""

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import methods
from tfmtl.aggregation.base import Aggregator
from tfmtl.errors import UserError
from tfmtl.models import infer
from tfmtl.models.split import TaskSplit, resolve
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step


def _ids(variables):
  return [id(v) for v in variables]


def _assert_split(split, shared, own):
  assert _ids(split.shared_variables) == _ids(shared)
  for task, variables in own.items():
    assert _ids(split.task_variables(task)) == _ids(variables), task


def _assert_probe_agrees(model, tasks):
  spec = infer.input_spec_of(model)
  assert infer.structural(model, tasks) == infer.probe(model, tasks, spec)


def three_tasks():
  """trunk -> h; `pair` (read by a and b only) -> heads a, b; c reads h."""
  x = keras.Input((5,))
  trunk = keras.layers.Dense(6, activation="tanh", name="trunk")
  pair = keras.layers.Dense(4, activation="tanh", name="pair")
  heads = {t: keras.layers.Dense(1, name=f"head_{t}") for t in "abc"}
  h = trunk(x)
  p = pair(h)
  outputs = {"a": heads["a"](p), "b": heads["b"](p), "c": heads["c"](h)}
  return keras.Model(x, outputs), trunk, pair, heads


def test_functional_split_and_probe_agree():
  model, trunk, pair, heads = three_tasks()
  split = TaskSplit(model)
  _assert_split(split, trunk.trainable_variables + pair.trainable_variables,
                {t: heads[t].trainable_variables for t in "abc"})
  assert split.inferred
  _assert_probe_agrees(model, list("abc"))
  # GradNorm's layer: the shared layer nearest the heads.
  assert _ids(split.watched_variables) == _ids(pair.trainable_variables)
  override = TaskSplit(model, watch="trunk")
  assert _ids(override.watched_variables) == _ids(trunk.trainable_variables)


class _Recorder(Aggregator):
  """Sums J and keeps it, to look at its rows."""

  def build(self, tasks, num_params=None, shared_variables=None):
    super().build(tasks)
    self.jacobian = tf.Variable(tf.zeros([len(tasks), num_params]))

  def __call__(self, J, **extra):
    self.jacobian.assign(J)
    return tf.reduce_sum(J, axis=0)


def test_partly_shared_variable_has_zero_rows_for_tasks_that_skip_it():
  model, trunk, pair, _ = three_tasks()
  tasks = [Task(t, lambda y, p: tf.reduce_mean(tf.square(y - p), -1))
           for t in "abc"]
  method = _Recorder()
  step = make_train_step(model, tasks, method, keras.optimizers.SGD(0.1))
  x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
  step((x, {t: np.ones([4, 1], np.float32) for t in "abc"}))
  J = method.jacobian.numpy()
  n_trunk = sum(int(np.prod(v.shape)) for v in trunk.trainable_variables)
  assert J.shape[1] == n_trunk + sum(int(np.prod(v.shape))
                                     for v in pair.trainable_variables)
  assert np.all(J[2, n_trunk:] == 0)            # c doesn't read `pair`
  assert np.any(J[0, n_trunk:] != 0) and np.any(J[1, n_trunk:] != 0)
  assert np.all(np.any(J[:, :n_trunk] != 0, axis=1))  # all read the trunk


class Subclassed(keras.Model):

  def __init__(self):
    super().__init__()
    self.trunk = keras.layers.Dense(6, activation="relu")
    self.head_a = keras.layers.Dense(1)
    self.head_b = keras.layers.Dense(2)
    self.unused = keras.layers.Dense(3)

  def build(self, input_shape):
    self.unused.build(input_shape)  # built, read by no output

  def call(self, x, training=False):
    h = self.trunk(x)
    return {"a": self.head_a(h), "b": self.head_b(h)}


def test_subclassed_model_by_probe(caplog):
  model = Subclassed()
  model(tf.zeros([2, 5]))
  with caplog.at_level(logging.WARNING):
    split = resolve(model, ["a", "b"])
  _assert_split(split, model.trunk.trainable_variables,
                {"a": model.head_a.trainable_variables,
                 "b": model.head_b.trainable_variables})
  assert _ids(split.unused_variables) == _ids(model.unused.trainable_variables)
  assert "left out of training" in caplog.text
  assert _ids(split.watched_variables) == _ids(
      model.trunk.trainable_variables)
  with pytest.raises(UserError, match="not functional"):
    split.check_representation()


class TwoLayerTrunk(keras.Model):
  """Subclassed, two shared layers: GradNorm must watch the later one."""

  def __init__(self):
    super().__init__()
    self.first = keras.layers.Dense(6, activation="relu")
    self.second = keras.layers.Dense(4, activation="relu")
    self.head_a = keras.layers.Dense(1)
    self.head_b = keras.layers.Dense(2)

  def call(self, x, training=False):
    h = self.second(self.first(x))
    return {"a": self.head_a(h), "b": self.head_b(h)}


def test_subclassed_model_watches_its_last_shared_layer():
  model = TwoLayerTrunk()
  model(tf.zeros([2, 5]))
  split = resolve(model, ["a", "b"])
  _assert_split(split, model.first.trainable_variables +
                model.second.trainable_variables,
                {"a": model.head_a.trainable_variables,
                 "b": model.head_b.trainable_variables})
  assert _ids(split.watched_variables) == _ids(
      model.second.trainable_variables)


def test_representation_cut_closes_over_what_no_shared_variable_reaches():
  """A head also reads a trunk-side tensor with no shared variable upstream
  (the rescaled input): it is closed over, not part of Z, so Z's gradient
  (MGDA-UB's) is the trunk's alone, and the heads still see it."""
  x = keras.Input((5,))
  scaled = keras.layers.Rescaling(0.5, name="scale")(x)
  trunk = keras.layers.Dense(6, activation="tanh", name="trunk")
  h = trunk(scaled)
  heads = {"a": keras.layers.Dense(1, name="head_a"),
           "b": keras.layers.Dense(1, name="head_b")}
  outputs = {"a": heads["a"](keras.layers.Concatenate()([h, scaled])),
             "b": heads["b"](h)}
  model = keras.Model(x, outputs)
  split = TaskSplit(model)
  xs = np.random.default_rng(2).normal(size=(4, 5)).astype(np.float32)
  z, run_heads = split.call_split(xs)
  assert [t.shape[-1] for t in z] == [6]              # h only, not `scaled`
  for t, value in run_heads(z).items():
    np.testing.assert_allclose(value, model(xs)[t], atol=1e-6)
  # Z is the trunk's output on the rescaled input.
  np.testing.assert_allclose(z[0], trunk(0.5 * xs), atol=1e-6)


def test_sequential_trunk_with_heads():
  trunk = keras.Sequential([keras.layers.Dense(8, activation="relu"),
                            keras.layers.Dense(4, activation="relu")])
  x = keras.Input((5,))
  h = trunk(x)
  heads = {"a": keras.layers.Dense(1), "b": keras.layers.Dense(1)}
  model = keras.Model(x, {t: layer(h) for t, layer in heads.items()})
  split = TaskSplit(model)
  _assert_split(split, trunk.trainable_variables,
                {t: heads[t].trainable_variables for t in heads})
  _assert_probe_agrees(model, ["a", "b"])
  # Inside the nested trunk: its last layer with weights.
  assert _ids(split.watched_variables) == _ids(
      trunk.layers[-1].trainable_variables)


def test_keras_applications_backbone():
  backbone = keras.applications.MobileNetV3Small(
      input_shape=(32, 32, 3), include_top=False, weights=None,
      include_preprocessing=False)
  x = keras.Input((32, 32, 3))
  f = keras.layers.GlobalAveragePooling2D()(backbone(x))
  heads = {"a": keras.layers.Dense(1), "b": keras.layers.Dense(3)}
  model = keras.Model(x, {t: layer(f) for t, layer in heads.items()})
  split = TaskSplit(model)
  _assert_split(split, backbone.trainable_variables,
                {t: heads[t].trainable_variables for t in heads})
  _assert_probe_agrees(model, ["a", "b"])


def test_representation_cut_and_mgda_ub_equals_hand_wrapped():
  model, trunk, pair, heads = three_tasks()
  split = TaskSplit(model)
  x = np.random.default_rng(1).normal(size=(6, 5)).astype(np.float32)
  z, run_heads = split.call_split(x)
  assert sorted(t.shape[-1] for t in z) == [4, 6]      # pair(h) and h
  direct = model(x)
  for t, value in run_heads(z).items():
    np.testing.assert_allclose(value, direct[t], atol=1e-6)

  def by_hand(inputs, training=False):
    h = trunk(inputs, training=training)
    p = pair(h, training=training)
    return [h, p], lambda zs: {"a": heads["a"](zs[1]),
                               "b": heads["b"](zs[1]),
                               "c": heads["c"](zs[0])}

  explicit = TaskSplit(
      model, shared=trunk.trainable_variables + pair.trainable_variables,
      per_task={t: heads[t].trainable_variables for t in "abc"},
      representation=by_hand)
  start = [np.asarray(v) for v in model.trainable_variables]
  labels = {t: np.full([6, 1], i, np.float32) for i, t in enumerate("abc")}
  tasks = [Task(t, lambda y, p: tf.reduce_mean(tf.square(y - p), -1))
           for t in "abc"]
  after = []
  for wrapped in (model, explicit):
    for v, s in zip(model.trainable_variables, start):
      v.assign(s)
    step = make_train_step(wrapped, tasks, methods.get("mgda_ub"),
                           keras.optimizers.SGD(0.1))
    step((x, labels))
    after.append([np.asarray(v) for v in model.trainable_variables])
  for a, b, s in zip(*after, start):
    assert not np.allclose(a, s)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_bad_models_get_one_clear_error():
  x = keras.Input((3,))
  not_dict = keras.Model(x, keras.layers.Dense(1)(x))
  with pytest.raises(UserError, match="not a dict"):
    resolve(not_dict, ["a"])
  model, _, _, _ = three_tasks()
  with pytest.raises(UserError, match=r"\['d'\] are not outputs"):
    resolve(model, ["a", "d"])
  with pytest.raises(UserError, match="not built"):
    resolve(Subclassed(), ["a", "b"])
  with pytest.raises(UserError, match="not a keras.Model"):
    resolve(object(), ["a"])
  lone = keras.Input((3,))
  separate = keras.Model(lone, {"a": keras.layers.Dense(1)(lone),
                                "b": keras.layers.Dense(1)(lone)})
  with pytest.raises(UserError, match="no variable that two tasks share"):
    TaskSplit(separate).check_representation()
  with pytest.raises(UserError, match="give both"):
    TaskSplit(model, shared=[])


def test_cost_of_a_plain_functional_model():
  from tfmtl.models import cost  # pylint: disable=g-import-not-at-top
  model, _, _, _ = three_tasks()
  c = cost(model)  # shapes from the model's inputs
  # Dense MACs: trunk 5·6, pair 6·4, heads 4, 4 and 6.
  assert c.macs == 5 * 6 + 6 * 4 + 4 + 4 + 6
  assert c.tasks["c"].macs == 5 * 6 + 6
  assert c.tasks["a"].params == (5 * 6 + 6) + (6 * 4 + 4) + (4 + 1)
