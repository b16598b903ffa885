"""LiteRT (TensorFlow Lite) flat buffers of the serving function.

`convert(saved_model_dir)` turns the `serve` signature of a serving
SavedModel (tfmtl/export/serving.py) into a .tflite: float32, or with
`representative` full-integer int8 post-training quantisation (every op
int8; the uint8 image input stays uint8, the float inputs and outputs stay
float32 with the (de)quantisation inside, so consumers feed the two files
alike). The .tflite keeps the SavedModel's signature `serve`, its input and
output names. Interpreter: `tf.lite.Interpreter` (TensorFlow's own; the
`ai_edge_litert` package is its successor with the same API).
"""

import re
import warnings
from typing import Callable, Iterable, Optional

import numpy as np
import tensorflow as tf

from tfmtl.errors import UserError

SIGNATURE = "serve"


def _first_error(e: Exception) -> str:
  """The converter's first `error:` line as "layer PATH: message" (PATH
  from the op's `loc(...)`, the Keras layer path of the failing op), else
  the exception's first line."""
  text = str(e)
  for line in text.splitlines():
    if "error:" in line:
      message = re.sub(r"\s+", " ", line.split("error:", 1)[1]).strip()
      # loc(callsite(fused["Op:", "model/layer/Op@__inference_..."] at ...
      path = re.search(r'fused\["[^"]*", "([^"@]+)', line)
      if message.startswith("loc("):
        message = message.rsplit(")): ", 1)[-1]
      return f"layer {path.group(1)}: {message}" if path else message
  return text.strip().splitlines()[0] if text.strip() else type(e).__name__


def convert(saved_model_dir: str,
            representative: Optional[Callable[[], Iterable[dict]]] = None
            ) -> bytes:
  """The .tflite bytes of `saved_model_dir`'s `serve` signature: float32,
  or full-integer int8 when `representative` (a function returning an
  iterable of {input name: array} feeds) is given. A layer that doesn't
  convert is a UserError naming it."""
  converter = tf.lite.TFLiteConverter.from_saved_model(
      saved_model_dir, signature_keys=[SIGNATURE])
  if representative is not None:
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    # Every op int8: a device without float kernels runs it all.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
  try:
    return converter.convert()
  except Exception as e:  # pylint: disable=broad-except
    what = "int8" if representative is not None else "float32"
    raise UserError(f"LiteRT {what} conversion failed: {_first_error(e)}; "
                    "replace that layer by one LiteRT supports (or export "
                    "another format); nothing was exported") from None


def flex_ops(path: str) -> list:
  """The TensorFlow ("Flex") ops the .tflite at `path` needs: ops LiteRT
  has no kernel for, which only an interpreter linked with the Flex
  delegate runs (Keras' `export(format="litert")` allows them)."""
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation
    interpreter = tf.lite.Interpreter(model_path=str(path))
  return sorted({op["op_name"] for op in interpreter._get_ops_details()  # pylint: disable=protected-access
                 if op["op_name"].startswith("Flex")})


class Runner:
  """Runs a .tflite's `serve` signature on {input name: array} feeds."""

  def __init__(self, path_or_bytes):
    kind = ("model_content" if isinstance(path_or_bytes, (bytes, bytearray))
            else "model_path")
    with warnings.catch_warnings():
      # tf.lite.Interpreter's deprecation notice (ai_edge_litert has the
      # same API); it is TensorFlow's, not the user's, to act on.
      warnings.simplefilter("ignore")
      self.interpreter = tf.lite.Interpreter(**{kind: (
          bytes(path_or_bytes) if kind == "model_content"
          else str(path_or_bytes))})
    self.runner = self.interpreter.get_signature_runner(SIGNATURE)
    details = self.runner.get_input_details()
    self.inputs = {k: (tuple(int(d) for d in v["shape_signature"]),
                       np.dtype(v["dtype"])) for k, v in details.items()}
    self.outputs = {k: tuple(int(d) for d in v["shape_signature"])
                    for k, v in self.runner.get_output_details().items()}

  def __call__(self, **feeds) -> dict:
    """{output name: array} for one batch of `feeds` (checked against the
    signature: a wrong dtype or size is a UserError, not a crash)."""
    check_feeds("LiteRT model", self.inputs, feeds)
    return self.runner(**{k: np.asarray(feeds[k]) for k in self.inputs})


def check_feeds(what: str, inputs, feeds) -> None:
  """A UserError unless `feeds` has every input of `inputs` ({name:
  (shape with -1 for any, dtype)}) at its dtype and size."""
  for k, (shape, dtype) in inputs.items():
    if k not in feeds:
      raise UserError(f"{what}: input {k!r} missing (it takes "
                      f"{', '.join(inputs)})")
    x = np.asarray(feeds[k])
    if x.dtype != dtype or x.ndim != len(shape) or any(
        s not in (-1, d) for s, d in zip(shape, x.shape)):
      raise UserError(f"{what}: input {k!r} must be {dtype.name} "
                      f"{list(shape)} (-1 any), got {x.dtype.name} "
                      f"{list(x.shape)}")


class ExportedModel:
  """An exported file (a `Runner`: .tflite, or .onnx through
  `tfmtl.export.onnx.Runner`) standing in for the Keras model in
  `tfmtl.evaluation`:
  called on the dataset's inputs (images as [0, 1] floats), it feeds the
  uint8 images the signature takes and returns {task: `<task>_logits`}, so
  the metrics and losses are the Keras model's own. Works inside
  tf.function (through tf.numpy_function)."""

  def __init__(self, path: str, tasks, to_features, runner=None):
    self.runner = runner or Runner(path)
    self.tasks = list(tasks)
    self.to_features = to_features  # dataset inputs -> {input name: tensor}
    outputs = self.runner.outputs
    missing = [t for t in self.tasks if f"{t}_logits" not in outputs]
    if missing:
      raise UserError(f"{path}: no {missing[0]}_logits output (it has "
                      f"{', '.join(sorted(outputs))}); export it again with "
                      "eval.py --export_formats=tflite (or tflite_int8, "
                      "onnx)")
    self.shapes = {t: [None] + [int(d) if d > 0 else None for d in
                                outputs[f"{t}_logits"]][1:]
                   for t in self.tasks}

  def _run(self, names, *arrays):
    feeds = {}
    for name, a in zip(names, arrays):
      name = name.decode() if isinstance(name, bytes) else name
      if self.runner.inputs[name][1] == np.uint8:
        a = np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
      feeds[name] = a
    out = self.runner(**feeds)
    return [np.asarray(out[f"{t}_logits"], np.float32) for t in self.tasks]

  def __call__(self, inputs, training=False):
    del training  # inference only
    features = self.to_features(inputs)
    names = sorted(features)
    outs = tf.numpy_function(
        lambda *a: self._run(names, *a), [features[n] for n in names],
        [tf.float32] * len(self.tasks), stateful=False)
    result = {}
    for t, o in zip(self.tasks, outs):
      o.set_shape(self.shapes[t])
      result[t] = o
    return result
