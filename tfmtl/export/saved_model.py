"""SavedModel export with a named serving signature, written atomically."""

import os
import shutil
import tempfile
from typing import Mapping

import keras
import tensorflow as tf

from tfmtl.errors import UserError, reason


def input_signature(element_spec, name: str = "inputs") -> dict:
  """Serving input specs named after the model inputs (batch dim free); a
  single tensor input is called `name`."""
  if isinstance(element_spec, Mapping):
    return {k: tf.TensorSpec([None] + list(v.shape[1:]), v.dtype, name=k)
            for k, v in element_spec.items()}
  return {name: tf.TensorSpec([None] + list(element_spec.shape[1:]),
                              element_spec.dtype, name=name)}


def input_name(model) -> str:
  """The name of a single-input functional model's input (`keras.Input(...,
  name="image")`), or "inputs" when it has none of its own."""
  inputs = getattr(model, "inputs", None) or []
  return _own_name(inputs[0], "inputs") if len(inputs) == 1 else "inputs"


def _own_name(tensor, default: str) -> str:
  name = getattr(tensor, "name", "") or ""
  if name and not name.startswith("keras_tensor") and name.isidentifier():
    return name
  return default


def model_input_spec(model):
  """The input spec of a functional model (None for a subclassed one)."""
  inputs = getattr(model, "_inputs_struct", None)
  if inputs is None:
    return None
  return tf.nest.map_structure(
      lambda t: tf.TensorSpec(t.shape, t.dtype, name=t.name), inputs)


def check_target(path: str) -> None:
  """An export never replaces anything: `path` must not exist yet."""
  if os.path.exists(path):
    raise UserError(f"export directory {path!r} already exists; remove it "
                    "or choose another --export_dir")


def export_saved_model(model: keras.Model, inputs_spec, path: str) -> str:
  """Writes `model` as a SavedModel at `path` with endpoint `serve`.

  The signature takes the named inputs of `inputs_spec` (the `inputs` part
  of the dataset's element spec; a single tensor input keeps the model's
  own input name, `input_name`) and returns one named output per task. The
  SavedModel is written to a temporary sibling directory and renamed into
  place, so `path` never holds a half-written export.
  """
  specs, feed = signature_inputs(model, inputs_spec)

  def serve(features):
    out = model(feed(features), training=False)
    return {k: tf.identity(v, name=k) for k, v in out.items()}

  return write_endpoint(model, serve, specs, path)


def signature_inputs(model, inputs_spec):
  """(specs, feed): the serving inputs {name: TensorSpec} for the model's
  inputs `inputs_spec`, and the function that turns such a dict back into
  what the model is called with (a dict, a list or a tensor)."""
  if isinstance(inputs_spec, (list, tuple)):
    # Several positional inputs: named by the model's inputs, in order.
    names = [_own_name(t, f"input_{i}") for i, t in enumerate(
        getattr(model, "inputs", None) or inputs_spec)]
    specs = input_signature(dict(zip(names, inputs_spec)))
    return specs, lambda features: [features[n] for n in names]
  if isinstance(inputs_spec, Mapping):
    return input_signature(inputs_spec), lambda features: features
  name = input_name(model)
  return (input_signature(inputs_spec, name),
          lambda features: features[name])


def write_endpoint(model, fn, specs, path: str, endpoint: str = "serve"):
  """Writes a SavedModel at `path` tracking `model` with one endpoint
  `endpoint` = `fn(features)` over the inputs `specs`; written to a
  temporary sibling and renamed into place, so a failure leaves nothing.
  """
  check_target(path)
  parent = os.path.dirname(os.path.abspath(path))
  archive = keras.export.ExportArchive()
  archive.track(model)
  archive.add_endpoint(endpoint, fn, input_signature=[specs])
  tmp = None
  try:
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
    archive.write_out(tmp, verbose=False)
    os.replace(tmp, path)
  except (OSError, tf.errors.OpError) as e:
    # Disk full, read-only or missing permissions: one line, no half export.
    raise UserError(f"could not write the SavedModel to {path!r} "
                    f"({type(e).__name__}: {reason(e)}); nothing was "
                    "exported") from None
  finally:
    if tmp and os.path.exists(tmp):
      shutil.rmtree(tmp, ignore_errors=True)
  return path


def to_features(model, inputs_spec, x) -> dict:
  """The serving feeds {name: value} of a dataset's inputs `x` (the
  structure of `inputs_spec`): the inverse of `signature_inputs`' feed."""
  specs, _ = signature_inputs(model, inputs_spec)
  if isinstance(inputs_spec, (list, tuple)):
    return dict(zip(specs, x))
  if isinstance(inputs_spec, Mapping):
    return dict(x)
  (name,) = specs
  return {name: x}
