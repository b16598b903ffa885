"""SavedModel export with a named serving signature, written atomically."""

import os
import shutil
import tempfile
from typing import Mapping

import keras
import tensorflow as tf

from tfmtl.errors import UserError


def input_signature(element_spec) -> dict:
  """Serving input specs named after the model inputs (batch dim free)."""
  if isinstance(element_spec, Mapping):
    return {k: tf.TensorSpec([None] + list(v.shape[1:]), v.dtype, name=k)
            for k, v in element_spec.items()}
  return {"inputs": tf.TensorSpec([None] + list(element_spec.shape[1:]),
                                  element_spec.dtype, name="inputs")}


def export_saved_model(model: keras.Model, inputs_spec, path: str) -> str:
  """Writes `model` as a SavedModel at `path` with endpoint `serve`.

  The signature takes the named inputs of `inputs_spec` (the `inputs` part
  of the dataset's element spec) and returns one named output per task. The
  SavedModel is written to a temporary sibling directory and renamed into
  place, so `path` never holds a half-written export.
  """
  if os.path.exists(path):
    raise UserError(f"export directory {path!r} already exists; remove it "
                    "or choose another --export_dir")
  parent = os.path.dirname(os.path.abspath(path))
  specs = input_signature(inputs_spec)
  plain = not isinstance(inputs_spec, Mapping)

  def serve(features):
    out = model(features["inputs"] if plain else features, training=False)
    return {k: tf.identity(v, name=k) for k, v in out.items()}

  archive = keras.export.ExportArchive()
  archive.track(model)
  archive.add_endpoint("serve", serve, input_signature=[specs])
  tmp = None
  try:
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
    archive.write_out(tmp, verbose=False)
    os.replace(tmp, path)
  except (OSError, tf.errors.OpError) as e:
    # Disk full, read-only or missing permissions: one line, no half export.
    first = (str(e).splitlines() or [""])[0][:200]
    raise UserError(f"could not write the SavedModel to {path!r} "
                    f"({type(e).__name__}: {first}); nothing was exported"
                    ) from None
  finally:
    if tmp and os.path.exists(tmp):
      shutil.rmtree(tmp, ignore_errors=True)
  return path
