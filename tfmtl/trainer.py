"""`Trainer`: any multi-task Keras model with any tfmtl method, trained by
Keras' own `compile` / `fit` / `evaluate` / `predict`.

    trainer = tfmtl.Trainer(model, {"a": "mse", "b": "bce"}, "pcgrad")
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = trainer.fit(train_ds, epochs=3, validation_data=val_ds)
    trainer.save("model.keras")       # the trained network, for load_model
    trainer.export("export")          # a SavedModel of it, for serving

There is one implementation of the step: `train_step` is
`tfmtl.engine.TrainStep.replica_step`, the step `make_train_step` builds, so
for the same model, batches, method and optimizer both give the same
weights. Keras supplies the loop, the progress bar, callbacks,
`steps_per_execution`, `jit_compile` and the distribution strategy (create
the Trainer under `strategy.scope()`).

Logs. The progress bar shows `loss` (the method's weighted total),
`<task>_loss` (epoch means) and the compiled metrics; History also keeps
`<task>_weight`, `grad_norm`, the method's own statistics (`alpha/<task>`,
...) and the fault counters at the epoch's last step (`show_method_logs=True`
prints them too). Validation reports `<task>_loss` and `loss` = Σ_t w_t L_t
with each task's configured weight (what EarlyStopping and ModelCheckpoint
monitor as `val_loss`).

Saving. `save("x.keras")` (and `ModelCheckpoint("x.keras")`, best only or
not) saves the trained *network*: `keras.saving.load_model` gives back the
user's model. `save_weights` / `load_weights` (so `BackupAndRestore` and
`ModelCheckpoint(save_weights_only=True)`) keep the whole training state --
network, optimizer, the method's state, the step counters -- and refuse, in
one line saying what changed, a file written for another method, tasks or
model. `export(dir)` writes a SavedModel of the network whose signature keeps
the model's input names.

Faults. A step with a non-finite loss or gradient is skipped (the update
and the method's state roll back); after `max_nonfinite_skips` in a row
`fit` stops with `tfmtl.errors.NonFiniteError` naming the likely causes,
as train.py does.
"""

import json
import warnings
from typing import Mapping, Optional, Union

import keras
import numpy as np
import tensorflow as tf

from tfmtl import contract, errors
from tfmtl import losses as losses_lib
from tfmtl import methods as methods_lib
from tfmtl.engine import jit_choice
from tfmtl.engine.forward import float32, label_weights
from tfmtl.engine.step import TrainStep
from tfmtl.errors import NonFiniteError, UserError
from tfmtl.models.split import TaskSplit
from tfmtl.tasks import Task


def per_example(loss):
  """The per-example loss [B] of a tfmtl name, a Keras loss or a callable
  (`tfmtl.losses.per_example` without the family)."""
  return losses_lib.per_example(loss)[0]


def make_tasks(tasks):
  """Tasks from [Task], {name: Task} or {name: loss} (a tfmtl loss name, a
  Keras loss or a callable, averaged over its non-batch axes)."""
  if isinstance(tasks, Mapping):
    out = []
    for name, t in tasks.items():
      if isinstance(t, Task):
        out.append(t)
        continue
      try:
        fn, family = losses_lib.per_example(t)
      except UserError as e:
        raise UserError(f"task {name!r}: {e}") from None
      out.append(Task(name, fn, family=family))
  else:
    out = list(tasks)
  if not out or not all(isinstance(t, Task) for t in out):
    raise UserError("tasks: give {name: loss} or a list of tfmtl Task "
                    "objects, at least one")
  return out


def _filled(tasks, per_task, outputs):
  """{task: [B] weights} with ones for the tasks without (None if none)."""
  if per_task is None:
    return None
  return {t.name: (per_task[t.name] if per_task[t.name] is not None
                   else tf.ones([tf.shape(outputs[t.name])[0]]))
          for t in tasks}


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


class _Progbar(keras.callbacks.ProgbarLogger):
  """Keras' progress bar without the method's statistics (History keeps
  them)."""

  def __init__(self, hidden):
    super().__init__()
    self._hidden = hidden  # a function: the keys are known once traced

  def _shown(self, logs):
    if logs is None:
      return None
    hidden = self._hidden()
    return {k: v for k, v in logs.items()
            if k not in hidden and k[4:] not in hidden}

  def on_train_batch_end(self, batch, logs=None):
    super().on_train_batch_end(batch, self._shown(logs))

  def on_test_batch_end(self, batch, logs=None):
    super().on_test_batch_end(batch, self._shown(logs))

  def on_epoch_end(self, epoch, logs=None):
    super().on_epoch_end(epoch, self._shown(logs))

  def on_test_end(self, logs=None):
    super().on_test_end(self._shown(logs))


class _NonFiniteStop(keras.callbacks.Callback):
  """Stops fit after `limit` updates in a row were skipped."""

  def __init__(self, limit, tasks):
    super().__init__()
    self.limit, self.tasks = limit, tasks

  def on_train_batch_end(self, batch, logs=None):
    in_a_row = int(np.asarray((logs or {}).get("consecutive_skips", 0)))
    if self.limit and in_a_row >= self.limit:
      raise NonFiniteError(
          f"fit stopped: {in_a_row} updates in a row had a non-finite loss "
          "or gradient and were skipped (max_nonfinite_skips="
          f"{self.limit}). Likely causes: NaN labels (mark a task's missing "
          "labels with Task(..., missing='nan') or sample weights 0), a "
          "learning rate too large, or exploding gradients (clip_global_norm"
          "=...)")


class Trainer(keras.Model):
  """Trains `model` on `tasks` with `method`, the Keras way.

  Args:
    model: a Keras model returning {task: output}, or a `TaskSplit` of one.
    tasks: {name: loss} (a `tfmtl.losses` name, a Keras loss or a callable
      returning per-example losses) or a list of `tfmtl.tasks.Task`.
    method: a method name (`tfmtl.methods.names()`) or an instance.
    method_kwargs: arguments of a method given by name
      (`tfmtl.methods.describe(name)` lists them).
    max_nonfinite_skips: stop `fit` after this many skipped (non-finite)
      updates in a row (≥ 1).
    show_method_logs: print the method's statistics (task weights, gradient
      norm, ...) in the progress bar too; History always has them.
    clip_global_norm, clip_by_value, per_sample_mode, input_spec: as
      `tfmtl.engine.make_train_step`.
  """

  def __init__(self, model, tasks, method: Union[str, object] = "fixed", *,
               method_kwargs: Optional[dict] = None,
               max_nonfinite_skips: int = 10,
               show_method_logs: bool = False,
               clip_global_norm: Optional[float] = None,
               clip_by_value: Optional[dict] = None,
               per_sample_mode: str = "independent", input_spec=None,
               **kwargs):
    super().__init__(**kwargs)
    if isinstance(max_nonfinite_skips, bool) or not isinstance(
        max_nonfinite_skips, int) or max_nonfinite_skips < 1:
      raise UserError(f"max_nonfinite_skips={max_nonfinite_skips!r} must "
                      "be an integer >= 1 (there is no 'never stop')")
    self._split = model if isinstance(model, TaskSplit) else None
    self.network = self._split.model if self._split else model
    self.tasks = make_tasks(tasks)
    self.method = (methods_lib.get(method, **(method_kwargs or {}))
                   if isinstance(method, str) else method)
    self._method_name = method if isinstance(method, str) else type(
        method).__name__
    self._options = dict(clip_global_norm=clip_global_norm,
                         clip_by_value=clip_by_value,
                         per_sample_mode=per_sample_mode,
                         input_spec=input_spec)
    self._max_skips = max_nonfinite_skips
    self._show_method_logs = bool(show_method_logs)
    self._engine = None
    self._method_keys = set()
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

    `jit_compile="auto"` times the first train steps with and without XLA
    and keeps the faster (one line says which; the choice is saved with the
    weights, so a resumed fit keeps it). It is off where XLA can't run the
    step (a method with a py_function, several mirrored replicas). True
    compiles the step, False never does.
    """
    if kwargs.pop("loss", None) is not None:
      raise UserError("Trainer.compile takes no loss: each task's loss is "
                      "given in tasks={name: loss}")
    try:
      jit = jit_choice.resolve(jit_compile)
    except ValueError as e:
      raise UserError(str(e)) from None
    super().compile(optimizer=optimizer, metrics=metrics,
                    jit_compile=jit is True,
                    steps_per_execution=steps_per_execution,
                    auto_scale_loss=False, **kwargs)
    self._jit = jit
    if self.network.built:
      self._build_engine()

  def _build_engine(self):
    if self.method.batches_per_step > 1:
      raise UserError(
          f"{type(self.method).__name__} reads several independent batches "
          "per step, and Keras' fit gives one: train it with train.py or "
          "make_train_step (step(step.draw(iterator)))")
    self._engine = TrainStep(
        self._split or self.network, self.tasks, self.method, self.optimizer,
        strategy=self.distribute_strategy, function=False,
        jit_compile=self._jit, **self._options)
    self.built = True  # its network is: callbacks may load weights now

  def make_train_function(self, force=False):
    """Keras' train function; under `jit_compile="auto"` one that times
    both forms on its first calls and then is the faster
    (engine/jit_choice.py)."""
    if (self._jit != "auto" or self.run_eagerly or self._engine is None or
        (self.train_function is not None and not force)):
      return super().make_train_function(force)
    engine = self._engine
    why = engine.xla_unavailable()
    forms = {}
    for form in (False,) if why else (False, True):
      self.jit_compile = form
      super().make_train_function(force=True)
      forms[form] = engine.in_form(self.train_function, form)
    self.jit_compile = False

    def chosen(form, unused_message):
      self.train_function = forms[form == jit_choice.XLA]
    self.train_function = jit_choice.Chooser(
        forms[False], forms.get(True), engine.counters.xla,
        on_choice=chosen, why=why)
    return self.train_function

  # --------------------------------------------------------------- fit

  def fit(self, x=None, y=None, **kwargs):
    """Keras' fit, after checking the data against the tasks: an unbuilt
    network is first built from the data's element spec (a tf.data.Dataset
    of (inputs, labels[, sample weights]))."""
    if not self.compiled:
      raise UserError("compile the Trainer before fit")
    spec = _batch_spec(x, y, kwargs.get("sample_weight"))
    if self._engine is None:
      if spec is None:
        raise UserError(
            f"model {self.network.name} is not built: call it once on a "
            "batch (model(x)) or fit on a tf.data.Dataset of (inputs, "
            "labels) so it can be built from the element spec")
      if self._options["input_spec"] is None:
        self._options["input_spec"] = spec[0]
      with self.distribute_strategy.scope():
        self.network(_zeros(spec[0]), training=False)
      self._build_engine()
    if spec is not None:
      self._data_spec = spec[0]
      self._check_data(spec, "the training data", extra_ok=False)
    validation = kwargs.get("validation_data")
    if validation is not None:
      vspec = _batch_spec(*(validation if isinstance(validation, tuple)
                            else (validation,)))
      if vspec is not None:
        self._check_data(vspec, "validation_data", extra_ok=False)
    _refuse_empty(x)
    if isinstance(x, tf.data.Dataset):
      kwargs.setdefault("shuffle", False)  # Keras would warn it is ignored
    callbacks = list(kwargs.pop("callbacks", None) or [])
    if kwargs.get("verbose", "auto") != 0 and not any(
        isinstance(c, keras.callbacks.ProgbarLogger) for c in callbacks):
      callbacks.append(_Progbar(self._hidden_keys))
    callbacks.append(_NonFiniteStop(self._max_skips, self.tasks))
    if kwargs.get("verbose", "auto") != 0:
      print(self.startup_line(spec), flush=True)
    with _data_errors():
      history = super().fit(x, y, callbacks=callbacks, **kwargs)
    if history.epoch and not history.history:  # epochs without a batch
      raise UserError("fit ran no step: the training data gave no batch "
                      "(an empty dataset, or one used up: add .repeat() or "
                      "make a new iterator)")
    return history

  def evaluate(self, x=None, y=None, **kwargs):
    """Keras' evaluate, with data mistakes as one-line errors."""
    spec = _batch_spec(x, y, kwargs.get("sample_weight"))
    if spec is not None and self._engine is not None:
      self._check_data(spec, "the evaluation data", extra_ok=False)
    with _data_errors():
      return super().evaluate(x, y, **kwargs)

  def _check_data(self, spec, what, extra_ok):
    """Labels, weights and shapes of a batch spec against the tasks."""
    try:
      contract.check_labels(self.tasks, spec[1], extra_ok=extra_ok)
      weights = contract.per_task_weights(
          self.tasks, spec[2] if len(spec) > 2 else None)
      # Outputs of a one-example probe: their batch axis says nothing.
      outputs = self.network(_zeros(spec[0]), training=False)
      contract.check_shapes(self.tasks, outputs, spec[1], weights,
                            batch=False)
    except UserError as e:
      raise UserError(f"{what}: {e}") from None

  def _hidden_keys(self):
    """History keys the progress bar leaves out (the method's statistics)."""
    return set() if self._show_method_logs else self._method_keys

  def startup_line(self, spec=None) -> str:
    """What runs: method, level, shared parameters, tasks and their kinds."""
    from tfmtl import kinds as kinds_lib  # pylint: disable=g-import-not-at-top
    from tfmtl import summaries  # pylint: disable=g-import-not-at-top
    kinds = {}
    if spec is not None:
      outputs = self.network(_zeros(spec[0]), training=False)
      for t in self.tasks:
        label = spec[1][t.name]
        kind = kinds_lib.resolve(
            t, tuple(outputs[t.name].shape), tuple(label.shape),
            tf.as_dtype(label.dtype).is_integer)
        kinds[t.name] = kinds_lib.summary(kind, tuple(outputs[t.name].shape))
    return summaries.startup_line(self._method_name, self._engine, kinds)

  # -------------------------------------------------------------- steps

  def train_step(self, data):
    x, y = data[0], data[1]
    weights = data[2] if len(data) > 2 else None
    logs, outputs = self._engine.replica_step(x, y, weights,
                                              return_outputs=True)
    out, method = {}, {}
    for t in self.tasks:
      self._loss_means[t.name].update_state(logs[f"loss/{t.name}"])
      out[f"{t.name}_loss"] = self._loss_means[t.name].result()
      method[f"{t.name}_weight"] = logs[f"weight/{t.name}"]
    self._total_mean.update_state(logs["total_loss"])
    out["loss"] = self._total_mean.result()
    out.update(self._compiled_metrics(y, outputs, weights))
    for key, value in logs.items():
      if not key.startswith(("loss/", "weight/", "nonfinite/")) and \
          key != "total_loss":
        method[key] = value
    # Known once traced: the keys the console leaves out unless asked.
    self._method_keys = set(method)
    return {**out, **method}

  def _compiled_metrics(self, y, outputs, weights=None):
    compiled = getattr(self, "_compile_metrics", None)
    if compiled is None:
      return {}
    labels, per_task = label_weights(self.tasks, y, weights)
    labels = {t.name: labels[t.name] for t in self.tasks}
    outputs = {t.name: outputs[t.name] for t in self.tasks}
    if not hasattr(compiled, "_flat_weighted_metrics"):  # another Keras
      compiled.update_state(labels, outputs, sample_weight=_filled(
          self.tasks, per_task, outputs))
      return compiled.result()
    # Keras gives sample weights to `weighted_metrics` only, but an example
    # unlabelled for a task (a NaN label, zeroed here) must not be scored by
    # `metrics` either: those get the labelled mask, the weighted ones the
    # mask times the user's weights.
    _, masks = label_weights(self.tasks, y, None)
    if not compiled.built:
      compiled.build(labels, outputs)
    flat = compiled._flatten_y  # pylint: disable=protected-access
    for group, w in ((compiled._flat_metrics, masks),  # pylint: disable=protected-access
                     (compiled._flat_weighted_metrics, per_task)):  # pylint: disable=protected-access
      w = flat(_filled(self.tasks, w, outputs) or
               {t.name: None for t in self.tasks})
      for m, y_t, y_p, s_w in zip(group, flat(labels), flat(outputs), w):
        if m:
          m.update_state(y_t, y_p, s_w)
    return compiled.result()

  def test_step(self, data):
    x = data[0]
    weights = data[2] if len(data) > 2 else None
    y, per_task = label_weights(self.tasks, data[1], weights)
    outputs = float32(self.network(x, training=False))
    contract.check_shapes(self.tasks, outputs, y)
    out, total = {}, 0.0
    for t in self.tasks:
      per_example_loss = tf.cast(t.loss(y[t.name], outputs[t.name]),
                                 tf.float32)
      w = None if per_task is None else per_task[t.name]
      if w is None:
        w = tf.ones_like(per_example_loss)
      count = tf.reduce_sum(w)
      loss = tf.math.divide_no_nan(tf.reduce_sum(
          tf.where(w > 0, w * per_example_loss,
                   tf.zeros_like(per_example_loss))), count)
      # Weighted by the labelled examples: the epoch mean is over them.
      self._loss_means[t.name].update_state(loss, sample_weight=count)
      out[f"{t.name}_loss"] = self._loss_means[t.name].result()
      total += t.weight * loss
    self._total_mean.update_state(total)
    out["loss"] = self._total_mean.result()
    out.update(self._compiled_metrics(data[1], outputs, weights))
    return out

  @property
  def metrics(self):
    compiled = getattr(self, "_compile_metrics", None)
    return ([self._total_mean] + list(self._loss_means.values()) +
            ([compiled] if compiled is not None else []))

  # ------------------------------------------------- saving and export

  def save(self, filepath, overwrite=True, **kwargs):
    """Saves the trained network (`.keras` / `.h5`): what
    `keras.saving.load_model` reads back is the user's own model.
    `ModelCheckpoint("x.keras")` calls this. The training state (method,
    optimizer, counters) is kept by `save_weights` instead."""
    path = str(filepath)
    if not path.endswith((".keras", ".h5")):
      raise UserError(
          f"Trainer.save({path!r}): give a .keras path (the trained network); "
          "use trainer.export(dir) for a SavedModel and save_weights("
          "'x.weights.h5') for the training state")
    return self.network.save(filepath, overwrite=overwrite, **kwargs)

  def export(self, filepath, format="tf_saved_model", verbose=None,  # pylint: disable=redefined-builtin
             input_signature=None, **kwargs):
    """Exports the trained network. A SavedModel (the default) gets the
    endpoint `serve` taking the model's own input names (the data's input
    spec when the network is not functional) and returning {task:
    output}; other formats ("litert", "onnx", ...) are Keras'
    `Model.export` of the network, its keyword arguments included (for
    "litert", TFLiteConverter attributes: `optimizations`,
    `representative_dataset`, `target_spec={"supported_ops": ...}` make
    an int8 file).

    Every format traces the network in export mode
    (`tfmtl.models.layers.convertible`): SegNet's pooling indices become
    a mask of the same values, which LiteRT runs without TensorFlow's Flex
    kernels and int8 quantises. A .tflite that still needs Flex kernels
    (a layer LiteRT lacks) is written, with a warning
    naming them."""
    from tfmtl import export as export_lib  # pylint: disable=g-import-not-at-top
    from tfmtl.models import layers as model_layers  # pylint: disable=g-import-not-at-top
    if format != "tf_saved_model":
      with model_layers.convertible():
        out = self.network.export(filepath, format=format, verbose=verbose,
                                  input_signature=input_signature, **kwargs)
      if format == "litert":
        from tfmtl.export import litert  # pylint: disable=g-import-not-at-top
        flex = litert.flex_ops(filepath)
        if flex:
          warnings.warn(
              f"{filepath} needs TensorFlow's Flex kernels for "
              f"{', '.join(flex)} (layers LiteRT has no kernel for): the "
              "plain LiteRT interpreter refuses it. Link the Flex delegate "
              "(tensorflow-lite-select-tf-ops), or replace those layers",
              stacklevel=2)
      return out
    spec = input_signature or getattr(self, "_data_spec", None) or \
        self._options["input_spec"] or export_lib.model_input_spec(
            self.network)
    if spec is None:
      raise UserError("Trainer.export: the network's inputs are unknown; "
                      "fit first or pass input_signature=")
    with model_layers.convertible():
      path = export_lib.export_saved_model(self.network, spec, str(filepath))
    if verbose:
      print(f"exported SavedModel to {path}")
    return path

  def _signature(self) -> dict:
    """What saved training state belongs to: method, tasks, model."""
    return {"method": self._method_name,
            "method_class": type(self.method).__name__,
            "tasks": [t.name for t in self.tasks],
            # Shapes in order, as Keras loads them (paths change with
            # the names Keras numbers layers by).
            "model": [list(v.shape) for v in self.network.weights],
            "state": [list(v.shape) for v in self._state_variables()]}

  def save_own_variables(self, store):
    super().save_own_variables(store)
    store["tfmtl_signature"] = np.frombuffer(
        json.dumps(self._signature()).encode(), np.uint8)

  def load_own_variables(self, store):
    # Keras loads the Trainer's own entry before its layers: a file of
    # another method, task set or model is refused before anything moves.
    keys = list(store.keys())
    if "tfmtl_signature" in keys:
      saved = json.loads(bytes(np.asarray(store["tfmtl_signature"])))
      changes = _changes(saved, self._signature())
      if changes:
        raise UserError(_refusal(changes))
    super().load_own_variables(
        {k: store[k] for k in keys if k != "tfmtl_signature"})

  def load_weights(self, filepath, *args, **kwargs):
    saved = _saved_signature(str(filepath))
    if saved is not None:
      changes = _changes(saved, self._signature())
      if changes:
        raise UserError(f"{filepath}: {_refusal(changes)}")
    return super().load_weights(filepath, *args, **kwargs)

  def get_config(self):
    raise NotImplementedError(
        "a Trainer is not saved whole: trainer.save('model.keras') saves "
        "its network, save_weights / BackupAndRestore its training state")


def _saved_signature(path):
  """The signature a `.weights.h5` file was saved with (None: none, or not
  such a file)."""
  if not path.endswith(".h5"):
    return None
  import h5py  # pylint: disable=g-import-not-at-top  (Keras' own dependency)
  try:
    with h5py.File(path, "r") as f:
      raw = f.get("vars/tfmtl_signature")
      return None if raw is None else json.loads(bytes(np.asarray(raw)))
  except (OSError, ValueError):
    return None  # Keras' own load says what is wrong with the file


def _refusal(changes):
  return ("these weights were saved by a Trainer with another "
          f"{'; another '.join(changes)}: use a new backup or checkpoint "
          "path, or the same setup")


def _changes(saved, now):
  out = []
  if saved.get("method") != now["method"]:
    out.append(f"method ({saved.get('method')!r}, now {now['method']!r})")
  if saved.get("tasks") != now["tasks"]:
    out.append(f"tasks ({saved.get('tasks')}, now {now['tasks']})")
  before, after = saved.get("model", []), now["model"]
  if before != after:
    if len(before) != len(after):
      what = f"{len(before)} weights, now {len(after)}"
    else:
      i = next(i for i, (a, b) in enumerate(zip(before, after)) if a != b)
      what = f"weight #{i} was {tuple(before[i])}, now {tuple(after[i])}"
    out.append(f"model ({what})")
  if not out and saved.get("state") != now["state"]:
    out.append(f"method state ({saved.get('state')}, now {now['state']})")
  return out


class _data_errors:  # pylint: disable=invalid-name
  """Turns a tfmtl data check that failed inside the step into its line."""

  def __enter__(self):
    return self

  def __exit__(self, kind, error, tb):
    if isinstance(error, tf.errors.InvalidArgumentError):
      better = errors.from_op_error(error)
      if better is not None:
        raise better from None
    return False


def _batch_spec(x, y=None, sample_weight=None):
  """(inputs, labels[, weights]) specs of fit's data: a tf.data element
  spec, or numpy / tensor arrays; None when not known up front (a
  generator, a PyDataset)."""
  spec = getattr(x, "element_spec", None)
  if spec is not None:
    return spec if isinstance(spec, tuple) and len(spec) >= 2 else (spec,
                                                                     None)
  if x is None or y is None:
    return None
  as_spec = lambda a: tf.TensorSpec([None] + list(np.shape(a))[1:],  # noqa: E731
                                    tf.as_dtype(np.asarray(a).dtype))
  inputs = tf.nest.map_structure(as_spec, x)
  labels = (tf.nest.map_structure(as_spec, y) if isinstance(y, Mapping)
            else y)
  if sample_weight is None:
    return (inputs, labels)
  return (inputs, labels, tf.nest.map_structure(as_spec, sample_weight))


def _zeros(spec):
  return tf.nest.map_structure(
      lambda s: tf.zeros([1] + list(s.shape[1:]), s.dtype), spec)


def _refuse_empty(x):
  if isinstance(x, tf.data.Dataset) and int(x.cardinality()) == 0:
    raise UserError("the training dataset is empty (cardinality 0): check "
                    "the data, the filter or the batch size with "
                    "drop_remainder")
  if isinstance(x, np.ndarray) and len(x) == 0:
    raise UserError("the training inputs are empty (0 examples)")
