"""`Trainer`: any multi-task Keras model with any tfmtl method, trained by
Keras' own `compile` / `fit` / `evaluate` / `predict`.

    trainer = tfmtl.Trainer(model, {"a": "mse", "b": "mse"}, "pcgrad")
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = trainer.fit(train_ds, epochs=3, validation_data=val_ds)

There is one implementation of the step: `train_step` is
`tfmtl.engine.TrainStep.replica_step`, the step `make_train_step` builds, so
for the same model, batches, method and optimizer both give the same
weights. Keras supplies the loop, the progress bar, callbacks,
`steps_per_execution`, `jit_compile` and the distribution strategy (create
the Trainer under `strategy.scope()`).

Logs (History): `loss` (the method's weighted total) and `<task>_loss`
averaged over the epoch; `<task>_weight`, `grad_norm` and the method's own
logs at the last step; compiled metrics. Validation reports `<task>_loss`
and `loss` = Σ_t w_t L_t with each task's configured weight (what
EarlyStopping and ModelCheckpoint monitor as `val_loss`).

Checkpoints: `save_weights` / `load_weights` (so `BackupAndRestore` and
`ModelCheckpoint(save_weights_only=True)`) keep the model, the optimizer, the
method's state and the step counters. To keep the trained network itself,
save `trainer.network` (`.keras`) or export it (`trainer.network.export`).
"""

from typing import Mapping, Optional, Sequence, Union

import keras
import tensorflow as tf

from tfmtl import losses as losses_lib
from tfmtl import methods as methods_lib
from tfmtl.engine.forward import float32, label_weights
from tfmtl.engine.step import TrainStep
from tfmtl.errors import UserError
from tfmtl.models.split import TaskSplit
from tfmtl.tasks import Task


def per_example(loss) -> callable:
  """A per-example loss [B] from a tfmtl name, a Keras loss or a callable.

  Keras losses are taken unreduced (`Loss.call`); anything with more than
  one axis left is averaged over the non-batch axes.
  """
  if isinstance(loss, str):
    try:
      return losses_lib.get(loss)
    except UserError:
      loss = keras.losses.get(loss)
  fn = loss.call if isinstance(loss, keras.losses.Loss) else loss
  if not callable(fn):
    raise UserError(f"loss {loss!r} is not a tfmtl loss name, a Keras loss "
                    "or a callable (y_true, y_pred) -> per-example losses")

  def reduced(y_true, y_pred):
    out = fn(y_true, y_pred)
    axes = list(range(1, len(out.shape)))
    return tf.reduce_mean(out, axis=axes) if axes else out
  reduced.__name__ = getattr(fn, "__name__", "loss")
  return reduced


def make_tasks(tasks) -> Sequence[Task]:
  """Tasks from [Task], {name: Task} or {name: loss}."""
  if isinstance(tasks, Mapping):
    out = [t if isinstance(t, Task) else Task(name, per_example(t))
           for name, t in tasks.items()]
  else:
    out = list(tasks)
  if not out or not all(isinstance(t, Task) for t in out):
    raise UserError("tasks: give {name: loss} or a list of tfmtl Task "
                    "objects, at least one")
  return out


class _StateLayer(keras.layers.Layer):
  """Saves a method's state and the step counters with the Trainer's
  weights (they are tf.Variables outside Keras' tracking)."""

  def __init__(self, variables):
    super().__init__(name="tfmtl_state", trainable=False)
    # A function, not the Trainer: a tracked parent would be a cycle.
    self._state = variables

  def save_own_variables(self, store):
    for i, v in enumerate(self._state()):
      store[str(i)] = v.numpy()

  def load_own_variables(self, store):
    for i, v in enumerate(self._state()):
      v.assign(store[str(i)])


class Trainer(keras.Model):
  """Trains `model` on `tasks` with `method`, the Keras way.

  Args:
    model: a Keras model returning {task: output}, or a `TaskSplit` of one.
    tasks: {name: loss} (a `tfmtl.losses` name, a Keras loss or a callable
      returning per-example losses) or a list of `tfmtl.tasks.Task`.
    method: a method name (`tfmtl.methods.names()`) or an instance.
    method_kwargs: arguments of a method given by name.
    clip_global_norm, clip_by_value, per_sample_mode, input_spec: as
      `tfmtl.engine.make_train_step`.
  """

  def __init__(self, model, tasks, method: Union[str, object] = "fixed", *,
               method_kwargs: Optional[dict] = None,
               clip_global_norm: Optional[float] = None,
               clip_by_value: Optional[dict] = None,
               per_sample_mode: str = "independent", input_spec=None,
               **kwargs):
    super().__init__(**kwargs)
    self._split = model if isinstance(model, TaskSplit) else None
    self.network = self._split.model if self._split else model
    self.tasks = make_tasks(tasks)
    self.method = (methods_lib.get(method, **(method_kwargs or {}))
                   if isinstance(method, str) else method)
    self._options = dict(clip_global_norm=clip_global_norm,
                         clip_by_value=clip_by_value,
                         per_sample_mode=per_sample_mode,
                         input_spec=input_spec)
    self._engine = None
    self.state_layer = _StateLayer(self._state_variables)
    names = [t.name for t in self.tasks]
    self._loss_means = {n: keras.metrics.Mean(name=f"{n}_loss")
                        for n in names}
    self._total_mean = keras.metrics.Mean(name="total_loss")

  def _state_variables(self):
    if self._engine is None:
      return []
    return (list(self._engine.method.variables) +
            list(self._engine.counters.variables))

  def build(self, input_shape=None):
    del input_shape  # the network is built already (compile checks)
    self.built = True

  def call(self, inputs, training=False):
    return self.network(inputs, training=training)

  def compile(self, optimizer="adam", metrics=None, jit_compile="auto",
              steps_per_execution=1, **kwargs):
    """Keras' compile; the loss comes from the tasks and the method.

    `jit_compile="auto"` means off (it turns XLA on on GPUs, where a method
    that can't be compiled would fail); pass True to compile the step.
    """
    if kwargs.pop("loss", None) is not None:
      raise UserError("Trainer.compile takes no loss: each task's loss is "
                      "given in tasks={name: loss}")
    jit = jit_compile is True
    super().compile(optimizer=optimizer, metrics=metrics, jit_compile=jit,
                    steps_per_execution=steps_per_execution,
                    auto_scale_loss=False, **kwargs)
    self._jit = jit
    if self.network.built:
      self._build_engine()

  def _build_engine(self):
    if getattr(self.method, "batches_per_step", 1) > 1:
      raise UserError(
          f"{type(self.method).__name__} reads several independent batches "
          "per step, and Keras' fit gives one: train it with train.py or "
          "make_train_step (step(step.draw(iterator)))")
    self._engine = TrainStep(
        self._split or self.network, self.tasks, self.method, self.optimizer,
        strategy=self.distribute_strategy, function=False,
        jit_compile=self._jit, **self._options)
    self.built = True  # its network is: callbacks may load weights now

  def fit(self, x=None, y=None, **kwargs):
    """Keras' fit; an unbuilt network is first built from the data's
    element spec (a tf.data.Dataset of (inputs, labels))."""
    if not self.compiled:
      raise UserError("compile the Trainer before fit")
    if self._engine is None:
      spec = getattr(x, "element_spec", None)
      if not (isinstance(spec, tuple) and len(spec) >= 2):
        raise UserError(
            f"model {self.network.name} is not built: call it once on a "
            "batch (model(x)) or fit on a tf.data.Dataset of (inputs, "
            "labels) so it can be built from the element spec")
      if self._options["input_spec"] is None:
        self._options["input_spec"] = spec[0]
      with self.distribute_strategy.scope():
        self.network(tf.nest.map_structure(
            lambda s: tf.zeros([1] + list(s.shape[1:]), s.dtype), spec[0]),
            training=False)
      self._build_engine()
    return super().fit(x, y, **kwargs)

  def train_step(self, data):
    x, y = data[0], data[1]
    weights = data[2] if len(data) > 2 else None
    logs, outputs = self._engine.replica_step(x, y, weights,
                                              return_outputs=True)
    out = {}
    for t in self.tasks:
      self._loss_means[t.name].update_state(logs[f"loss/{t.name}"])
      out[f"{t.name}_loss"] = self._loss_means[t.name].result()
      out[f"{t.name}_weight"] = logs[f"weight/{t.name}"]
    self._total_mean.update_state(logs["total_loss"])
    out["loss"] = self._total_mean.result()
    out.update(self._compiled_metrics(x, y, outputs))
    for key, value in logs.items():
      if not key.startswith(("loss/", "weight/", "nonfinite/")) and \
          key != "total_loss":
        out[key] = value
    return out

  def _compiled_metrics(self, x, y, outputs):
    compiled = getattr(self, "_compile_metrics", None)
    if compiled is None:
      return {}
    compiled.update_state(y, outputs)
    return compiled.result()

  def test_step(self, data):
    x = data[0]
    y, weights = label_weights(self.tasks, data[1],
                               data[2] if len(data) > 2 else None)
    outputs = float32(self.network(x, training=False))
    out, total = {}, 0.0
    for t in self.tasks:
      per_example = tf.cast(t.loss(y[t.name], outputs[t.name]), tf.float32)
      w = None if weights is None else weights[t.name]
      if w is None:
        w = tf.ones_like(per_example)
      count = tf.reduce_sum(w)
      loss = tf.math.divide_no_nan(tf.reduce_sum(
          tf.where(w > 0, w * per_example, tf.zeros_like(per_example))),
                                   count)
      # Weighted by the labelled examples: the epoch mean is over them.
      self._loss_means[t.name].update_state(loss, sample_weight=count)
      out[f"{t.name}_loss"] = self._loss_means[t.name].result()
      total += t.weight * loss
    self._total_mean.update_state(total)
    out["loss"] = self._total_mean.result()
    out.update(self._compiled_metrics(x, y, outputs))
    return out

  @property
  def metrics(self):
    compiled = getattr(self, "_compile_metrics", None)
    return ([self._total_mean] + list(self._loss_means.values()) +
            ([compiled] if compiled is not None else []))

  def get_config(self):
    raise NotImplementedError(
        "a Trainer is not saved whole: save its network "
        "(trainer.network.save('model.keras')) and its training state with "
        "save_weights / BackupAndRestore")
