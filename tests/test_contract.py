"""The data contract: each mistake is one line naming the task, what was
given and what is expected -- through `Trainer.fit` (from the element spec,
before the first step) and through `make_train_step` (while it traces)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfmtl
from tfmtl import methods
from tfmtl.errors import UserError
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step

from tests.helpers import tiny_model

N, B = 16, 8
X = np.random.default_rng(0).normal(size=(N, 3)).astype(np.float32)
Y = X[:, :1] * 2.0


def _fit(labels, weights=None, tasks=None, **kwargs):
  trainer = tfmtl.Trainer(tiny_model(), tasks or {"a": "mse", "b": "mse"},
                          "pcgrad", **kwargs)
  trainer.compile(optimizer=keras.optimizers.SGD(0.01))
  parts = (X, labels) if weights is None else (X, labels, weights)
  return trainer, trainer.fit(tf.data.Dataset.from_tensor_slices(
      parts).batch(B), epochs=2, verbose=0)


@pytest.mark.parametrize("labels, weights, message", [
    ({"a": Y}, None, r"the training data: the labels lack task\(s\) \['b'\]; "
     r"it has \['a'\]"),
    ({"a": Y, "bb": Y}, None, r"lack task\(s\) \['b'\]; it has \['bb'\], "
     "which are no task's: a misspelt name"),
    ({"a": Y, "b": Y, "c": Y}, None, r"labels \['c'\] belong to no task"),
    ((Y, Y), None, r"labels must be a dict \{task: label\} with keys "
     r"\['a', 'b'\]; got a tuple"),
    ({"a": Y, "b": X}, None, r"task 'b': labels \[B, 3\] for an output "
     r"\[B, 1\]: its regression loss wants a label of the output's shape"),
    ({"a": Y, "b": Y}, {"a": np.ones((N, 2), np.float32)},
     r"sample weights of task 'a' have shape \[B, 2\]: give one weight per "
     r"example"),
    ({"a": Y, "b": Y}, {"c": np.ones(N, np.float32)},
     r"sample weights for \['c'\], which are not tasks"),
])
def test_fit_refuses_data_mistakes_before_training(labels, weights, message):
  with pytest.raises(UserError, match=message):
    _fit(labels, weights)


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_negative_or_non_finite_weights_are_refused(bad):
  w = np.ones(N, np.float32)
  w[5] = bad
  with pytest.raises(UserError, match="task 'b': sample weights must be "
                     r"finite and >= 0 \(0 = unlabelled\)"):
    _fit({"a": Y, "b": Y}, {"a": np.ones(N, np.float32), "b": w})


def test_one_weight_array_is_every_tasks_weight():
  w = np.random.default_rng(1).uniform(0.0, 2.0, N).astype(np.float32)
  one, _ = _fit({"a": Y, "b": Y}, w)
  both, _ = _fit({"a": Y, "b": Y}, {"a": w, "b": w})
  for a, b in zip(one.network.weights, both.network.weights):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  plain, _ = _fit({"a": Y, "b": Y})
  assert not np.allclose(np.asarray(plain.network.weights[0]),
                         np.asarray(one.network.weights[0]))


def test_a_classifier_needs_one_class_id_per_example():
  x = keras.Input((3,))
  model = keras.Model(x, {"c": keras.layers.Dense(4)(x)})
  trainer = tfmtl.Trainer(model, {"c": "sparse_ce"}, "fixed")
  trainer.compile(optimizer="sgd")
  ds = tf.data.Dataset.from_tensor_slices(
      (X, {"c": np.zeros((N, 3), np.int32)})).batch(B)
  with pytest.raises(UserError, match=r"task 'c': labels \[B, 3\] for an "
                     r"output \[B, 4\]: its cross-entropy wants one class id "
                     r"per example, \[B\] or \[B, 1\]"):
    trainer.fit(ds, verbose=0)


def test_empty_data_and_unknown_loss_are_refused():
  with pytest.raises(UserError, match="training dataset is empty"):
    trainer = tfmtl.Trainer(tiny_model(), {"a": "mse", "b": "mse"}, "fixed")
    trainer.compile(optimizer="sgd")
    trainer.fit(tf.data.Dataset.from_tensor_slices(
        (X, {"a": Y, "b": Y})).batch(B).take(0), verbose=0)
  with pytest.raises(UserError, match="fit ran no step: the training data "
                     "gave no batch"):
    trainer = tfmtl.Trainer(tiny_model(), {"a": "mse", "b": "mse"}, "fixed")
    trainer.compile(optimizer="sgd")
    trainer.fit(tf.data.Dataset.from_tensor_slices(
        (X, {"a": Y, "b": Y})).batch(B).filter(lambda x, y: False),
                verbose=0)
  with pytest.raises(UserError, match="task 'b': unknown loss 'msee'"):
    tfmtl.Trainer(tiny_model(), {"a": "mse", "b": "msee"}, "fixed")


def test_make_train_step_checks_while_it_traces():
  """The same checks on the make_train_step path, where no element spec is
  seen first: raised as the step traces, as the plain UserError (autograph
  must not rewrap it)."""
  tasks = [Task("a", "mse"), Task("b", "mse")]
  step = make_train_step(tiny_model(), tasks, methods.get("fixed"),
                         keras.optimizers.SGD(0.1))
  with pytest.raises(UserError, match=r"^the labels lack task\(s\) \['b'\]"):
    step((X[:B], {"a": Y[:B]}))
  with pytest.raises(UserError, match=r"^task 'b': labels \[B, 3\]"):
    step((X[:B], {"a": Y[:B], "b": X[:B]}))

  def scalar(y, p):
    return tf.reduce_mean(tf.square(y - p))
  step = make_train_step(tiny_model(), [Task("a", scalar), tasks[1]],
                         methods.get("fixed"), keras.optimizers.SGD(0.1))
  with pytest.raises(UserError, match=r"task 'a': its loss returned shape "
                     r"\[\] \(a scalar\); a task's loss must give one value "
                     "per example"):
    step((X[:B], {"a": Y[:B], "b": Y[:B]}))
