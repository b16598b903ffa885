"""ONNX export of the serving function (the `onnx` extra: tf2onnx, checked
with ONNX Runtime): the same inputs and outputs as the serving SavedModel,
`<task>_logits` included (eval.py --model_file scores them)."""

import numpy as np
import tensorflow as tf

from tfmtl.errors import UserError
from tfmtl.export import serving

OPSET = 17
"""The ONNX opset written (ONNX Runtime 1.1x and later run it)."""
_MISSING = ("the onnx format needs the `onnx` extra: pip install "
            "'tfmtl[onnx]' (tf2onnx, onnx, onnxruntime)")


def convert(model, inputs_spec, kinds, families=None) -> bytes:
  """The serialised ONNX model of `model`'s serving function (logits
  included); a layer that doesn't convert is a UserError naming it."""
  try:
    import tf2onnx  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise UserError(_MISSING) from None
  fn, specs = serving.serving_function(model, inputs_spec, kinds, families,
                                       logits=True)
  try:
    proto, _ = tf2onnx.convert.from_function(
        tf.function(fn), input_signature=[specs], opset=OPSET)
  except Exception as e:  # pylint: disable=broad-except
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    raise UserError(f"ONNX conversion failed: {first}; replace that layer "
                    "or export another format; nothing was exported") from None
  return proto.SerializeToString()


class Runner:
  """Runs an .onnx file (or its bytes) with ONNX Runtime on {input name:
  array} feeds; the same interface as `tfmtl.export.litert.Runner`."""

  def __init__(self, path_or_bytes):
    try:
      import onnxruntime  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise UserError(_MISSING) from None
    source = (bytes(path_or_bytes)
              if isinstance(path_or_bytes, (bytes, bytearray))
              else str(path_or_bytes))
    self.session = onnxruntime.InferenceSession(
        source, providers=["CPUExecutionProvider"])
    types = {"tensor(uint8)": np.uint8, "tensor(float)": np.float32,
             "tensor(int32)": np.int32, "tensor(int64)": np.int64}
    self.inputs = {i.name: (tuple(d if isinstance(d, int) else -1
                                  for d in i.shape), np.dtype(types[i.type]))
                   for i in self.session.get_inputs()}
    self.outputs = {o.name: tuple(d if isinstance(d, int) else -1
                                  for d in o.shape)
                    for o in self.session.get_outputs()}

  def __call__(self, **feeds) -> dict:
    """{output name: array} for one batch of `feeds` (checked like
    `litert.Runner`: a wrong dtype or size is a UserError)."""
    from tfmtl.export import litert  # pylint: disable=g-import-not-at-top
    litert.check_feeds("ONNX model", self.inputs, feeds)
    names = list(self.outputs)
    values = self.session.run(names, {k: np.asarray(feeds[k])
                                      for k in self.inputs})
    return dict(zip(names, values))
