"""`eval.py --export_formats`: one artefact per format under one directory.

  saved_model  the serving SavedModel at the directory itself (endpoint
               `serve`, tfmtl/export/serving.py); the default
  tflite       `model.tflite`, LiteRT float32
  tflite_int8  `model_int8.tflite`, LiteRT full-integer int8, calibrated on
               `REPRESENTATIVE` examples of the train split
  onnx         `model.onnx` (the `onnx` extra: tf2onnx; run with ONNX
               Runtime)

The .tflite and .onnx files always carry `<task>_logits` too: `eval.py
--model_file` scores them with the same metrics (and losses) as the Keras
model. The whole directory is built in a temporary sibling and renamed
into place.
"""

import os
import shutil
import tempfile

import numpy as np

from tfmtl.errors import UserError
from tfmtl.export import litert, saved_model, serving

FORMATS = ("saved_model", "tflite", "tflite_int8", "onnx")
"""The formats `--export_formats` knows."""
FILES = {"tflite": "model.tflite", "tflite_int8": "model_int8.tflite",
         "onnx": "model.onnx"}
"""The file each non-SavedModel format writes under the export directory."""
REPRESENTATIVE = 64
"""Train examples int8 calibration reads (all of them when fewer)."""


def check_formats(formats) -> list:
  """`formats` (names, or one comma-separated string) checked: known,
  available, not empty; a UserError names the bad one and the known ones."""
  if isinstance(formats, str):
    formats = formats.split(",")
  formats = [f.strip() for f in formats if f.strip()] or ["saved_model"]
  for f in formats:
    if f not in FORMATS:
      raise UserError(f"export format {f!r} is unknown; known: "
                      f"{', '.join(FORMATS)}")
    if f == "onnx":
      try:
        import tf2onnx  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
      except ImportError:
        raise UserError("export format 'onnx' needs the `onnx` extra: pip "
                        "install 'tfmtl[onnx]' (tf2onnx, onnx, onnxruntime)"
                        ) from None
  return list(dict.fromkeys(formats))


def representative_feeds(model, inputs_spec, dataset, images,
                         num: int = REPRESENTATIVE):
  """A function returning up to `num` serving feeds from `dataset` (a
  batch-1 dataset of (inputs, ...)); the `images` ([0, 1] floats in the
  pipeline) become the uint8 the signature takes."""
  def feeds():
    for batch in dataset.take(num):
      features = saved_model.to_features(model, inputs_spec, batch[0])
      yield {k: (np.round(np.clip(v.numpy(), 0, 1) * 255).astype(np.uint8)
                 if k in images else v.numpy())
             for k, v in features.items()}
  return feeds


def export_formats(model, inputs_spec, kinds, path: str, formats,
                   families=None, train_dataset=None,
                   logits: bool = False) -> dict:
  """Writes each of `formats` under `path` (see the module doc); returns
  {format: path written}. `train_dataset` (batch 1) calibrates int8."""
  formats = check_formats(formats)
  saved_model.check_target(path)
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
  out = os.path.join(tmp, "out")
  written = {}
  try:
    if "saved_model" in formats:
      serving.export_serving(model, inputs_spec, kinds, out, families, logits)
      written["saved_model"] = path
    else:
      os.makedirs(out)
    if "onnx" in formats:
      from tfmtl.export import onnx as onnx_lib  # pylint: disable=g-import-not-at-top
      _write_file(os.path.join(out, FILES["onnx"]), path, onnx_lib.convert(
          model, inputs_spec, kinds, families))
      written["onnx"] = os.path.join(path, FILES["onnx"])
    lite = [f for f in formats if f in FILES and f != "onnx"]
    if lite:
      # The LiteRT files always keep the logits (eval.py scores them).
      scratch = os.path.join(tmp, "serving_with_logits")
      serving.export_serving(model, inputs_spec, kinds, scratch, families,
                             logits=True)
      for f in lite:
        rep = None
        if f == "tflite_int8":
          if train_dataset is None:
            raise UserError("tflite_int8 needs the train split to calibrate "
                            "on; nothing was exported")
          rep = representative_feeds(model, inputs_spec, train_dataset,
                                     serving.image_inputs(
                                         saved_model.signature_inputs(
                                             model, inputs_spec)[0]))
        _write_file(os.path.join(out, FILES[f]), path,
                    litert.convert(scratch, rep))
        written[f] = os.path.join(path, FILES[f])
    try:
      os.replace(out, path)
    except OSError as e:
      raise UserError(f"could not write the export to {path!r} ({e}); "
                      "nothing was exported") from None
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return written


def _write_file(file, path, content: bytes):
  try:
    with open(file, "wb") as fh:
      fh.write(content)
  except OSError as e:
    raise UserError(f"could not write {os.path.basename(file)} under "
                    f"{path!r} ({e}); nothing was exported") from None
