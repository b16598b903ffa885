"""`tfmtl.Trainer`: Keras fit with tfmtl's one step.

- fit == a make_train_step loop on the same batches, for a stateful
  loss-level method (uncertainty) and a gradient-level one (pcgrad);
- fit under MirroredStrategy == single device;
- BackupAndRestore resumes a fit killed mid-epoch, method state included,
  and ends where an uninterrupted fit ends;
- predict returns the task dict; the trained user model saves (.keras) and
  exports (SavedModel) and both reload to the same predictions.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfmtl
from tfmtl import methods
from tfmtl.errors import UserError
from tfmtl.trainer import make_tasks
from tfmtl.train_step import make_train_step

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
