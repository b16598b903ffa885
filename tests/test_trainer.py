"""`tfmtl.Trainer`: Keras fit with tfmtl's one step.

- fit == a make_train_step loop on the same batches, for a stateful
  loss-level method (uncertainty) and a gradient-level one (pcgrad);
- fit under MirroredStrategy == single device;
- BackupAndRestore resumes a fit killed mid-epoch, method state included,
  and ends where an uninterrupted fit ends;
- predict returns the task dict; the trained user model saves (.keras) and
  exports (SavedModel) and both reload to the same predictions;
- a SegNet exports to a LiteRT int8 file that runs without Flex ops, and a
  layer LiteRT lacks is named in a warning.
"""

import contextlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfmtl
from tfmtl import methods
from tfmtl.errors import UserError
from tfmtl.export import litert
from tfmtl.trainer import make_tasks
from tfmtl.engine import make_train_step

BATCH, STEPS = 8, 6


def user_model():
  x = keras.Input((5,))
  h = keras.layers.Dense(8, activation="tanh", kernel_initializer=(
      keras.initializers.GlorotUniform(seed=1)))(x)
  return keras.Model(x, {
      "a": keras.layers.Dense(1, kernel_initializer=(
          keras.initializers.GlorotUniform(seed=2)))(h),
      "b": keras.layers.Dense(2, kernel_initializer=(
          keras.initializers.GlorotUniform(seed=3)))(h)})


def data():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(BATCH * STEPS, 5)).astype(np.float32)
  y = {"a": x[:, :1] * 2.0, "b": np.tanh(x[:, 1:3]) * 3.0}
  return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)


TASKS = {"a": "mse", "b": keras.losses.MeanSquaredError()}


def weights(model):
  return [np.asarray(v) for v in model.trainable_variables]


@pytest.mark.parametrize("method", ["uncertainty", "pcgrad"])
def test_fit_equals_make_train_step(method):
  model = user_model()
  trainer = tfmtl.Trainer(model, TASKS, method)
  trainer.compile(optimizer=keras.optimizers.Adam(0.05))
  history = trainer.fit(data(), epochs=2, verbose=0)
  assert {"loss", "a_loss", "b_loss", "a_weight", "grad_norm"} <= set(
      history.history)

  reference = user_model()
  step = make_train_step(reference, make_tasks(TASKS), methods.get(method),
                         keras.optimizers.Adam(0.05))
  for _ in range(2):
    for batch in data():
      step(batch)
  for a, b in zip(weights(model), weights(reference)):
    np.testing.assert_allclose(a, b, atol=1e-5)
  assert not np.allclose(weights(model)[0], weights(user_model())[0])


def test_fit_mirrored_equals_single_device(mirrored):
  single = user_model()
  trainer = tfmtl.Trainer(single, TASKS, "pcgrad")
  trainer.compile(optimizer=keras.optimizers.SGD(0.1))
  trainer.fit(data(), epochs=1, verbose=0)
  with mirrored.scope():
    dist = user_model()
    trainer = tfmtl.Trainer(dist, TASKS, "pcgrad")
    trainer.compile(optimizer=keras.optimizers.SGD(0.1))
  trainer.fit(data(), epochs=1, verbose=0)
  for a, b in zip(weights(single), weights(dist)):
    np.testing.assert_allclose(a, b, atol=1e-5)


class Kill(keras.callbacks.Callback):
  """Stops the process-to-be in the middle of epoch 2 (its 3rd batch)."""

  def on_train_batch_end(self, batch, logs=None):
    if self.epoch == 1 and batch == 2:
      raise RuntimeError("killed")

  def on_epoch_begin(self, epoch, logs=None):
    self.epoch = epoch


def _trainer():
  trainer = tfmtl.Trainer(user_model(), TASKS, "uncertainty")
  trainer.compile(optimizer=keras.optimizers.Adam(0.05))
  return trainer


def test_backup_and_restore_resumes_a_killed_fit(tmp_path):
  backup = str(tmp_path / "backup")
  killed = _trainer()
  with pytest.raises(RuntimeError, match="killed"):
    killed.fit(data(), epochs=3, verbose=0, callbacks=[
        keras.callbacks.BackupAndRestore(backup), Kill()])
  resumed = _trainer()
  history = resumed.fit(data(), epochs=3, verbose=0, callbacks=[
      keras.callbacks.BackupAndRestore(backup)])
  assert len(history.epoch) == 2  # epoch 1 again, then epoch 2
  straight = _trainer()
  straight.fit(data(), epochs=3, verbose=0)
  for a, b in zip(weights(resumed.network), weights(straight.network)):
    np.testing.assert_allclose(a, b, atol=1e-6)
  # The method's learned log-variances came back too (they are not model
  # weights).
  for a, b in zip(resumed.method.variables, straight.method.variables):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_predict_save_and_export(tmp_path):
  trainer = tfmtl.Trainer(user_model(), TASKS, "fixed")
  trainer.compile(optimizer="adam", metrics={"a": ["mae"]})
  history = trainer.fit(data(), epochs=1, validation_data=data(), verbose=0)
  assert {"a_mae", "val_loss", "val_a_loss", "val_a_mae"} <= set(
      history.history)
  x = np.random.default_rng(3).normal(size=(4, 5)).astype(np.float32)
  predicted = trainer.predict(x, verbose=0)
  assert sorted(predicted) == ["a", "b"] and predicted["b"].shape == (4, 2)
  path = str(tmp_path / "model.keras")
  trainer.network.save(path)
  reloaded = keras.models.load_model(path)
  export = str(tmp_path / "export")
  trainer.network.export(export, verbose=False)
  loaded = tf.saved_model.load(export)
  served = loaded.serve(tf.constant(x))
  for t in ("a", "b"):
    np.testing.assert_allclose(reloaded.predict(x, verbose=0)[t],
                               predicted[t], atol=1e-6)
    np.testing.assert_allclose(served[t], predicted[t], atol=1e-6)



def test_litert_export_of_a_segnet_runs_without_flex_ops_in_int8(
    tmp_path, monkeypatch):
  # SegNet's MaxPoolWithArgmax has no LiteRT kernel: Keras' export alone
  # keeps it as a Flex op the plain interpreter refuses. (The export mode's
  # values: tests/test_export.py, float32 and int8.)
  network = tfmtl.models.SegNet(tasks={"kind": 3, "size": 1}, width=0.0625)
  x = np.random.default_rng(0).uniform(size=(4, 32, 32, 3)).astype(
      np.float32)
  want = network(x)
  trainer = tfmtl.Trainer(network, {"kind": "sparse_ce", "size": "mse"},
                          "fixed")
  path = str(tmp_path / "m_int8.tflite")
  # Keras' converter attributes reach the converter: a full-int8 file.
  trainer.export(path, format="litert",
                 optimizations=[tf.lite.Optimize.DEFAULT],
                 representative_dataset=lambda: ([x[i:i + 1]]
                                                 for i in range(4)),
                 target_spec={"supported_ops": [
                     tf.lite.OpsSet.TFLITE_BUILTINS_INT8]})
  assert not litert.flex_ops(path)
  interpreter = tf.lite.Interpreter(model_path=path)
  details = interpreter.get_tensor_details()
  convs = [op for op in interpreter._get_ops_details()  # pylint: disable=protected-access
           if op["op_name"] == "CONV_2D"]
  assert convs and all(details[op["outputs"][0]]["dtype"] == np.int8
                       for op in convs)
  got = interpreter.get_signature_runner()(args_0=x[:1])
  assert {k: v.shape for k, v in got.items()} == {
      k: (1,) + tuple(v.shape[1:]) for k, v in want.items()}
  # A layer LiteRT lacks is named, not written silently.
  monkeypatch.setattr(tfmtl.models.layers, "convertible",
                      contextlib.nullcontext)
  with pytest.warns(UserWarning, match="FlexMaxPoolWithArgmax"):
    trainer.export(str(tmp_path / "flex.tflite"), format="litert")

def test_tasks_and_compile_errors():
  with pytest.raises(UserError, match="not a tfmtl loss name"):
    make_tasks({"a": 3})
  trainer = tfmtl.Trainer(user_model(), TASKS, "fixed")
  with pytest.raises(UserError, match="takes no loss"):
    trainer.compile(optimizer="adam", loss="mse")
  with pytest.raises(UserError, match="unknown method"):
    tfmtl.Trainer(user_model(), TASKS, "no_such_method")


def test_user_loss_callable_per_example():
  def huber(y, p):   # [B, 2] -> averaged over the last axis
    return keras.losses.huber(y, p)
  task = make_tasks({"b": huber})[0]
  y, p = tf.ones([3, 2]), tf.zeros([3, 2])
  np.testing.assert_allclose(task.loss(y, p), [0.5, 0.5, 0.5])


class Unbuilt(keras.Model):
  """A subclassed model nobody has called yet."""

  def __init__(self):
    super().__init__()
    self.trunk = keras.layers.Dense(4, activation="tanh")
    self.heads = {"a": keras.layers.Dense(1), "b": keras.layers.Dense(2)}

  def call(self, x, training=False):
    h = self.trunk(x)
    return {t: layer(h) for t, layer in self.heads.items()}


def test_fit_builds_an_unbuilt_subclassed_model_from_the_data():
  model = Unbuilt()
  trainer = tfmtl.Trainer(model, TASKS, "pcgrad")
  trainer.compile(optimizer="sgd")
  trainer.fit(data(), epochs=1, verbose=0)
  split = trainer._engine.split  # pylint: disable=protected-access
  assert [id(v) for v in split.shared_variables] == [
      id(v) for v in model.trunk.trainable_variables]
  with pytest.raises(UserError, match="not built"):
    other = tfmtl.Trainer(Unbuilt(), TASKS, "pcgrad")
    other.compile(optimizer="sgd")
    other.fit(np.zeros([4, 5], np.float32), verbose=0)


def test_fit_under_mixed_float16_keeps_its_own_loss_scale():
  """A user model built under mixed_float16: float16 outputs are cast to
  float32 for the losses, the step's dynamic loss scale (not Keras') runs."""
  keras.mixed_precision.set_global_policy("mixed_float16")
  try:
    model = user_model()
    trainer = tfmtl.Trainer(model, TASKS, "pcgrad")
    trainer.compile(optimizer=keras.optimizers.SGD(0.05))
    history = trainer.fit(data(), epochs=1, verbose=0)
  finally:
    keras.mixed_precision.set_global_policy("float32")
  assert model.outputs[0].dtype == "float16"
  # The step's dynamic scale: starts at 2^15, halves on an overflow.
  assert 1.0 < history.history["loss_scale"][-1] <= 2.0 ** 15
  assert np.isfinite(history.history["loss"][-1])
  assert not isinstance(trainer.optimizer,
                        keras.optimizers.LossScaleOptimizer)


def test_fixed_equals_keras_fit_with_the_same_loss_dict():
  """24 SGD steps: Trainer(fixed) and keras.Model.fit with a loss dict give
  the same weights (the step is Σ_t L_t's gradient either way)."""
  ours, theirs = user_model(), user_model()
  trainer = tfmtl.Trainer(ours, TASKS, "fixed")
  trainer.compile(optimizer=keras.optimizers.SGD(0.1))
  trainer.fit(data(), epochs=4, verbose=0)
  theirs.compile(optimizer=keras.optimizers.SGD(0.1),
                 loss={"a": "mse", "b": "mse"})
  theirs.fit(data(), epochs=4, verbose=0)
  # Float32 sums of the same terms in another order: ~1e-7 relative.
  for a, b in zip(weights(ours), weights(theirs)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert not np.allclose(weights(ours)[0], weights(user_model())[0])


def test_model_checkpoint_keras_file_reloads_the_trained_network(tmp_path):
  best = str(tmp_path / "best.keras")
  last = str(tmp_path / "last.keras")
  x = np.random.default_rng(5).normal(size=(4, 5)).astype(np.float32)
  seen = []

  class Record(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
      seen.append(self.model.network.predict(x, verbose=0)["b"])

  trainer = tfmtl.Trainer(user_model(), TASKS, "pcgrad")
  # A step large enough that val_loss goes up again after epoch 3.
  trainer.compile(optimizer=keras.optimizers.Adam(1.0))
  history = trainer.fit(data(), epochs=4, validation_data=data(), verbose=0,
                        callbacks=[Record(), keras.callbacks.ModelCheckpoint(
                            best, save_best_only=True),
                                   keras.callbacks.ModelCheckpoint(last)])
  now = trainer.predict(x, verbose=0)
  reloaded = keras.saving.load_model(last)
  assert reloaded.name == trainer.network.name
  for t in ("a", "b"):
    np.testing.assert_allclose(reloaded.predict(x, verbose=0)[t], now[t],
                               atol=1e-6)
  # The best file holds the network of the epoch with the lowest val_loss.
  val = history.history["val_loss"]
  best_epoch = int(np.argmin(val))
  assert best_epoch < len(val) - 1  # the last is not the best
  np.testing.assert_allclose(
      keras.saving.load_model(best).predict(x, verbose=0)["b"],
      seen[best_epoch], atol=1e-6)
  with pytest.raises(UserError, match="give a .keras path"):
    trainer.save(str(tmp_path / "dir"))


def test_fit_stops_after_max_nonfinite_skips():
  def nan_labels():
    x = np.ones((BATCH * STEPS, 5), np.float32)
    y = {"a": np.full((BATCH * STEPS, 1), np.nan, np.float32),
         "b": np.ones((BATCH * STEPS, 2), np.float32)}
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
  trainer = tfmtl.Trainer(user_model(), TASKS, "uncertainty",
                          max_nonfinite_skips=4)
  trainer.compile(optimizer="sgd")
  with pytest.raises(tfmtl.NonFiniteError, match=r"fit stopped: 4 updates in "
                     r"a row .* NaN labels \(mark a task's missing labels"):
    trainer.fit(nan_labels(), epochs=5, verbose=0)
  # Not one update went through: the network is where it started.
  for a, b in zip(weights(trainer.network), weights(user_model())):
    np.testing.assert_array_equal(a, b)
  assert int(trainer._engine.counters.steps.numpy()) == 4  # pylint: disable=protected-access
  with pytest.raises(UserError, match="max_nonfinite_skips=0 must be"):
    tfmtl.Trainer(user_model(), TASKS, "fixed", max_nonfinite_skips=0)


def test_backup_of_another_method_or_model_is_refused_in_one_line(tmp_path):
  backup = str(tmp_path / "backup")
  killed = _trainer()
  with pytest.raises(RuntimeError, match="killed"):
    killed.fit(data(), epochs=3, verbose=0, callbacks=[
        keras.callbacks.BackupAndRestore(backup), Kill()])
  other = tfmtl.Trainer(user_model(), TASKS, "pcgrad")
  other.compile(optimizer=keras.optimizers.Adam(0.05))
  with pytest.raises(UserError, match=r"latest.weights.h5: these weights were "
                     r"saved by a Trainer with another method \('uncertainty', "
                     r"now 'pcgrad'\)"):
    other.fit(data(), epochs=3, verbose=0,
              callbacks=[keras.callbacks.BackupAndRestore(backup)])
  x = keras.Input((5,))
  h = keras.layers.Dense(6, activation="tanh")(x)
  wider = keras.Model(x, {"a": keras.layers.Dense(1)(h),
                          "b": keras.layers.Dense(2)(h)})
  changed = tfmtl.Trainer(wider, TASKS, "uncertainty")
  changed.compile(optimizer=keras.optimizers.Adam(0.05))
  with pytest.raises(UserError, match=r"another model \(weight #0 was "
                     r"\(5, 8\), now \(5, 6\)\)"):
    changed.fit(data(), epochs=3, verbose=0,
                callbacks=[keras.callbacks.BackupAndRestore(backup)])


def test_progress_bar_shows_losses_history_keeps_method_logs(capsys):
  trainer = tfmtl.Trainer(user_model(), TASKS, "upgrad")
  trainer.compile(optimizer="sgd", metrics={"a": ["mae"]})
  history = trainer.fit(data(), epochs=1, verbose=2)
  out = capsys.readouterr().out
  assert out.splitlines()[0].startswith(
      "tfmtl: upgrad — gradient level (J: T x shared parameters); 48 shared "
      "parameters; 2 tasks: a (regression), b (regression)")
  assert "a_loss" in out and "a_mae" in out
  for hidden in ("alpha/a", "a_weight", "grad_norm", "consecutive_skips"):
    assert hidden not in out and hidden in history.history
  shown = tfmtl.Trainer(user_model(), TASKS, "upgrad", show_method_logs=True)
  shown.compile(optimizer="sgd")
  shown.fit(data(), epochs=1, verbose=2)
  assert "alpha/a" in capsys.readouterr().out


def test_uncertainty_takes_the_classification_form_from_the_loss(capsys):
  x = keras.Input((5,))
  h = keras.layers.Dense(4)(x)
  model = keras.Model(x, {"c": keras.layers.Dense(3)(h),
                          "r": keras.layers.Dense(1)(h),
                          "p": keras.layers.Dense(1)(h)})
  trainer = tfmtl.Trainer(model, {"c": "sparse_ce", "r": "mse", "p": "bce"},
                          "uncertainty")
  trainer.compile(optimizer="sgd")
  rng = np.random.default_rng(0)
  xs = rng.normal(size=(16, 5)).astype(np.float32)
  ds = tf.data.Dataset.from_tensor_slices((xs, {
      "c": rng.integers(0, 3, 16), "r": xs[:, :1],
      "p": (xs[:, :1] > 0).astype(np.float32)})).batch(8)
  history = trainer.fit(ds, epochs=1, verbose=1)
  assert trainer.method.forms() == {"c": "classification", "r": "regression",
                                    "p": "classification"}
  assert ("uncertainty classification form: c, p; regression form: r"
          in capsys.readouterr().out)
  # exp(-s)·L for classification, exp(-s)/2·L for regression, at s = 0
  # (one SGD step away from it): ratio 2.
  w = history.history
  assert w["c_weight"][0] / w["r_weight"][0] == pytest.approx(2.0, rel=0.05)


def test_evaluate_averages_each_task_over_its_labelled_examples():
  """`evaluate`: a task's loss is the mean over the examples labelled for
  it in the whole set (not the mean of batch means), `loss` the mean over
  batches of Σ_t weight_t · L_t, and compiled metrics skip the unlabelled
  examples. Batch sizes and label counts are uneven so that each wrong
  averaging gives another number."""
  rng = np.random.default_rng(4)
  x = rng.normal(size=(10, 5)).astype(np.float32)
  a = rng.normal(size=(10, 1)).astype(np.float32)
  b = rng.normal(size=(10, 2)).astype(np.float32)
  b[[0, 1, 2, 6]] = np.nan          # batch 1: 3 of 6 labelled, batch 2: 3/4
  data = tf.data.Dataset.from_tensor_slices(
      (x, {"a": a, "b": b})).batch(6)
  model = user_model()
  tasks = [tfmtl.Task("a", "mse", weight=2.0),
           tfmtl.Task("b", "mse", weight=0.5, missing="nan")]
  trainer = tfmtl.Trainer(model, tasks, "fixed")
  trainer.compile(optimizer="sgd", metrics={"b": ["mae"]})
  got = trainer.evaluate(data, verbose=0, return_dict=True)

  out = {t: np.asarray(v, np.float64) for t, v in model(x).items()}
  loss_a = ((out["a"] - a) ** 2).mean(-1)
  loss_b = ((out["b"] - b) ** 2).mean(-1)
  labelled = ~np.isnan(b).any(-1)
  np.testing.assert_allclose(got["a_loss"], loss_a.mean(), rtol=1e-5)
  np.testing.assert_allclose(got["b_loss"], loss_b[labelled].mean(),
                             rtol=1e-5)
  per_batch = [2.0 * loss_a[s].mean() +
               0.5 * loss_b[s][labelled[s]].mean()
               for s in (slice(0, 6), slice(6, 10))]
  np.testing.assert_allclose(got["loss"], np.mean(per_batch), rtol=1e-5)
  mae = np.abs(out["b"] - b).mean(-1)
  np.testing.assert_allclose(got["b_mae"], mae[labelled].mean(), rtol=1e-5)

  # With sample weights: the loss and `weighted_metrics` weigh the labelled
  # examples, `metrics` (Keras' rule) count each labelled example once.
  w = rng.uniform(0.5, 3.0, size=10).astype(np.float32)
  trainer.compile(optimizer="sgd", metrics={"b": ["mae"]},
                  weighted_metrics={"b": ["mae"]})
  got = trainer.evaluate(tf.data.Dataset.from_tensor_slices(
      (x, {"a": a, "b": b}, {"b": w})).batch(6), verbose=0, return_dict=True)
  np.testing.assert_allclose(got["a_loss"], loss_a.mean(), rtol=1e-5)
  wl = w * labelled
  np.testing.assert_allclose(
      got["b_loss"], (wl * np.nan_to_num(loss_b)).sum() / wl.sum(), rtol=1e-5)
  np.testing.assert_allclose(got["b_mae"], mae[labelled].mean(), rtol=1e-5)
  np.testing.assert_allclose(got["b_weighted_mae"],
                             (wl * np.nan_to_num(mae)).sum() / wl.sum(),
                             rtol=1e-5)
