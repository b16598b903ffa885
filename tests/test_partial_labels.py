"""Partly labelled batches: per-task sample weights and NaN-missing labels.

For every task, the gradient of a step with sample weights s equals the
gradient of the loss computed on the labelled subset alone, L_t = Σ s l / Σ s
over the global batch — eagerly, under tf.function and under
MirroredStrategy with 2 logical CPUs, including a replica that holds no
labelled example of a task. SGD with lr 1 makes the update the gradient.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfmtl
from tfmtl import methods
from tfmtl.errors import UserError
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step

from tests.helpers import mse, tiny_model

B = 8
# One SGD(1.0) step against a reference: the update is the gradient, which
# the step forms from the weighted loss of the whole batch and the
# reference from the labelled subset — the same float32 sums in another
# order: ~1.2e-7 relative × ~16 terms (8 examples, 2 tasks) × inputs and
# weights of size ~2 ≈ 4e-6 (measured ≤ 3.5e-7, oneDNN on and off).
STEP_ATOL = 5e-6


def _batch():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(B, 3)).astype(np.float32)
  y = {"a": rng.normal(size=(B, 1)).astype(np.float32),
       "b": 3 * rng.normal(size=(B, 1)).astype(np.float32)}
  # a: fractional weights; b: labelled only in the second half, so under
  # two replicas the first holds no labelled example of b.
  s = {"a": np.array([1, 0, 2, 1, 0.5, 0, 1, 1], np.float32),
       "b": np.array([0, 0, 0, 0, 1, 0, 1, 1], np.float32)}
  return x, y, s


def _expected(start):
  x, y, s = _batch()
  ref = tiny_model()
  for v, value in zip(ref.trainable_variables, start):
    v.assign(value)
  with tf.GradientTape() as tape:
    out = ref(x)
    total = 0.0
    for t in "ab":
      keep = s[t] > 0   # the labelled subset alone, weighted
      l = mse(y[t][keep], tf.boolean_mask(out[t], keep))
      total += tf.reduce_sum(s[t][keep] * l) / s[t][keep].sum()
  return [v - g for v, g in zip(start, tape.gradient(
      total, ref.trainable_variables))]


def _step(strategy=None, function=True, method="sum"):
  strategy = strategy or tf.distribute.get_strategy()
  with strategy.scope():
    model = tiny_model()
    step = make_train_step(model, [Task("a", mse), Task("b", mse)],
                           methods.get(method), keras.optimizers.SGD(1.0),
                           strategy=strategy, function=function)
  return model, step


@pytest.mark.parametrize("where", ["eager", "function", "mirrored"])
def test_weighted_step_equals_the_labelled_subset(where, mirrored):
  strategy = mirrored if where == "mirrored" else None
  model, step = _step(strategy, function=where != "eager")
  start = [np.asarray(v) for v in model.trainable_variables]
  batch = tf.data.Dataset.from_tensors(_batch())
  if strategy is not None:
    batch = strategy.experimental_distribute_dataset(batch)
  logs = step(next(iter(batch)))
  for got, want in zip(model.trainable_variables, _expected(start)):
    np.testing.assert_allclose(got, want, atol=STEP_ATOL)
  x, y, s = _batch()
  keep = s["b"] > 0
  pred = tiny_model()(x)["b"].numpy()
  np.testing.assert_allclose(float(logs["loss/b"]), np.mean(
      (y["b"][keep] - pred[keep]) ** 2), rtol=1e-5)


def test_nan_labels_are_missing_when_the_task_says_so():
  x, y, s = _batch()
  y_nan = {t: np.where(s[t][:, None] > 0, y[t], np.nan).astype(np.float32)
           for t in "ab"}
  binary = {t: (s[t] > 0).astype(np.float32) for t in "ab"}
  results = []
  for batch, missing in (((x, y_nan), "nan"), ((x, y, binary), None)):
    model = tiny_model()
    step = make_train_step(
        model, [Task(t, mse, missing=missing) for t in "ab"],
        methods.get("pcgrad"), keras.optimizers.SGD(0.1))
    step(batch)
    results.append([np.asarray(v) for v in model.trainable_variables])
  for a, b in zip(*results):
    np.testing.assert_allclose(a, b, atol=1e-6)
  # Without missing="nan" a NaN label is a fault: the step is skipped.
  model = tiny_model()
  step = make_train_step(model, [Task(t, mse) for t in "ab"],
                         methods.get("pcgrad"), keras.optimizers.SGD(0.1))
  assert int(step((x, y_nan))["nonfinite_skips"]) == 1


def test_a_task_with_no_label_has_loss_zero_and_keeps_its_head():
  x, y, s = _batch()
  s = {"a": np.ones(B, np.float32), "b": np.zeros(B, np.float32)}
  model, step = _step(method="fixed")
  head_b = [np.asarray(v) for v in model.trainable_variables[4:]]
  logs = step((x, y, s))
  assert float(logs["loss/b"]) == 0.0
  for v, before in zip(model.trainable_variables[4:], head_b):
    np.testing.assert_array_equal(np.asarray(v), before)


def test_fit_takes_keras_sample_weights():
  x, y, s = _batch()
  model = tiny_model()
  start = [np.asarray(v) for v in model.trainable_variables]
  trainer = tfmtl.Trainer(model, {"a": mse, "b": mse}, "sum")
  trainer.compile(optimizer=keras.optimizers.SGD(1.0))
  trainer.fit(tf.data.Dataset.from_tensors((x, y, s)), epochs=1, verbose=0)
  for got, want in zip(model.trainable_variables, _expected(start)):
    np.testing.assert_allclose(got, want, atol=STEP_ATOL)


def test_bad_sample_weights_say_why():
  x, y, _ = _batch()
  _, step = _step(function=False)
  with pytest.raises(UserError, match="not tasks being trained"):
    step((x, y, {"c": np.ones(B, np.float32)}))
  with pytest.raises(UserError, match="missing='maybe'"):
    Task("a", mse, missing="maybe")


@pytest.mark.parametrize("where", ["eager", "function", "mirrored"])
def test_an_absent_task_is_left_out_of_a_gradient_method(where, mirrored):
  # b has no label in the step: MGDA solves the one-task problem (w_a = 1)
  # instead of putting its min-norm point on b's zero gradient.
  strategy = mirrored if where == "mirrored" else None
  model, step = _step(strategy, function=where != "eager", method="mgda")
  start = [np.asarray(v) for v in model.trainable_variables]
  x, y, _ = _batch()
  s = {"a": np.ones(B, np.float32), "b": np.zeros(B, np.float32)}
  batch = tf.data.Dataset.from_tensors((x, y, s))
  if strategy is not None:
    batch = strategy.experimental_distribute_dataset(batch)
  logs = step(next(iter(batch)))
  ref = tiny_model()
  for v, value in zip(ref.trainable_variables, start):
    v.assign(value)
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(mse(y["a"], ref(x)["a"]))
  grads = tape.gradient(loss, ref.trainable_variables)
  for got, v0, g in zip(model.trainable_variables, start, grads):
    want = v0 if g is None else v0 - g.numpy()
    np.testing.assert_allclose(got, want, atol=STEP_ATOL)
  assert float(logs["weight/b"]) == 0.0 and float(logs["weight/a"]) == 1.0


@pytest.mark.parametrize("where", ["function", "mirrored"])
def test_an_absent_tasks_head_and_its_optimizer_state_stay_put(where,
                                                                 mirrored):
  # Adam after a step with both tasks: its moments would move b's head in
  # a step without b's labels although b's gradient is zero. The step puts
  # b's head and its moments back (PyTorch skips a parameter whose
  # gradient is None); a's head and the shared layer move. Mirrored (2
  # CPUs) gives the same variables as one device.
  def run(strategy):
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
      model = tiny_model()
      opt = keras.optimizers.Adam(0.1)
      step = make_train_step(model, [Task("a", mse), Task("b", mse)],
                             methods.get("uncertainty"), opt,
                             strategy=strategy)
    x, y, _ = _batch()
    both = {t: np.ones(B, np.float32) for t in "ab"}
    no_b = {"a": np.ones(B, np.float32), "b": np.zeros(B, np.float32)}
    def values():
      return [np.array(v) for v in model.trainable_variables + opt.variables]
    for s in (both, no_b):
      batch = tf.data.Dataset.from_tensors((x, y, s))
      if strategy is not tf.distribute.get_strategy():
        batch = strategy.experimental_distribute_dataset(batch)
      before, log_var = values(), np.array(step.method.log_var)
      step(next(iter(batch)))
    return step, before, values(), (log_var, np.array(step.method.log_var))
  step, before, after, log_var = run(mirrored if where == "mirrored"
                                     else None)
  held = {id(v) for v, _ in step._hold.entries}  # pylint: disable=protected-access
  names = [v.path for v in step.split.task_variables("b")]
  variables = step.model.trainable_variables + step.optimizer.variables
  b_state = [i for i, v in enumerate(variables)
             if any(n.replace("/", "_") in v.path.replace("/", "_")
                    for n in names)]
  # b's kernel and bias, each with Adam's momentum and velocity.
  assert len(b_state) == 6 and all(id(variables[i]) in held for i in b_state)
  for i in b_state:
    np.testing.assert_array_equal(before[i], after[i], err_msg=variables[i].path)
  moved = [i for i in range(len(after)) if i not in b_state and
           not np.array_equal(before[i], after[i])]
  assert len(moved) >= 4 + 4 * 2  # shared + a's head and their moments
  # Uncertainty's log σ² (one [2] variable): b's entry stays, a's moves.
  assert log_var[0][1] == log_var[1][1] and log_var[0][0] != log_var[1][0]
  if where == "mirrored":
    _, _, single, _ = run(None)
    for got, want in zip(after, single):
      np.testing.assert_allclose(got, want, atol=1e-6)
