"""The serving signature a consumer calls: raw images in, answers out.

Inputs: each image input (named `image`, or a model's single [B, H, W, 1|3]
input) is `uint8` [B, H, W, C] in 0..255 at the trained size; the signature
scales it to [0, 1] float32 inside, as the data pipeline does (`decode` of
the image sources: `image / 255`). Other inputs keep their float32 spec --
the dual encoder's `flow` is [B, H, W, 3] float32 (dx, dy in pixels of the
image's size, Farneback confidence in [0, 1]: `tfmtl.data.cityscapes.
decode_flow_png` of the 16-bit PNG `python -m tfmtl.data.flow` writes). A
wrong dtype or size is refused by the signature itself.

Outputs, chosen by each task's kind (tfmtl/kinds.py), never its name:

  classification, segmentation, motion
      `<task>_class` int32 argmax (motion: 1 = moving) and `<task>_probs`
      float32 softmax over the class axis
  binary
      `<task>_probs` float32 sigmoid (as is for a `binary_probs` loss, whose
      outputs are probabilities already) and `<task>_class` int32 (p > 0.5)
  depth
      `<task>` float32 metres (the head's output activation already makes
      depth; see `tfmtl.models.layers.output_activation`)
  normal
      `<task>` float32 unit normals (L2-normalised over the last axis)
  regression, flow, loss (pose among them)
      `<task>` float32 as the network outputs it

`logits=True` adds `<task>_logits`, the raw float32 output of every task.
"""

from typing import Mapping, Optional

import tensorflow as tf

from tfmtl.export.saved_model import signature_inputs, write_endpoint
from tfmtl.models import layers as model_layers

IMAGE_INPUT = "image"
"""The input name taken as a uint8 image when the model has several."""
_CLASSES = ("classification", "segmentation", "motion")


def image_inputs(specs: Mapping[str, tf.TensorSpec]):
  """The names among the serving inputs `specs` that are images: `image`,
  or the only input when it is a float [B, H, W, 1|3]."""
  if IMAGE_INPUT in specs:
    return [IMAGE_INPUT]
  if len(specs) == 1:
    (name, spec), = specs.items()
    if (spec.shape.rank == 4 and spec.shape[-1] in (1, 3) and
        spec.dtype.is_floating):
      return [name]
  return []


def _uint8(spec: tf.TensorSpec) -> tf.TensorSpec:
  return tf.TensorSpec(spec.shape, tf.uint8, name=spec.name)


def preprocess(features, images):
  """The model's float inputs from the serving inputs: the `images` (uint8
  0..255) scaled to [0, 1] float32, the rest as given."""
  return {k: (tf.cast(v, tf.float32) / 255.0 if k in images else v)
          for k, v in features.items()}


def postprocess(outputs, kinds: Mapping[str, str],
                families: Optional[Mapping[str, str]] = None,
                logits: bool = False) -> dict:
  """Per-task outputs a consumer uses (see the module doc) from the raw
  outputs {task: tensor}; `kinds` {task: kind}, `families` {task: loss
  family} (only "binary_probs" changes anything)."""
  families = families or {}
  out = {}
  for task, y in outputs.items():
    y = tf.cast(y, tf.float32)  # mixed precision serves float32 all the same
    kind = kinds.get(task, "regression")
    if kind in _CLASSES:
      out[f"{task}_class"] = tf.argmax(y, -1, output_type=tf.int32)
      out[f"{task}_probs"] = tf.nn.softmax(y, -1)
    elif kind == "binary":
      p = y if families.get(task) == "binary_probs" else tf.sigmoid(y)
      out[f"{task}_probs"] = p
      out[f"{task}_class"] = tf.cast(p > 0.5, tf.int32)
    elif kind == "normal":
      out[task] = tf.math.l2_normalize(y, -1)
    else:  # depth (metres already), regression, pose, flow, loss
      out[task] = y
    if logits:
      out[f"{task}_logits"] = y
  return {k: tf.identity(v, name=k) for k, v in out.items()}


def serving_function(model, inputs_spec, kinds, families=None,
                     logits: bool = False):
  """(fn, specs): the serving function of `model` over the uint8 / float
  inputs `specs` (see the module doc); `inputs_spec` is the dataset's
  inputs spec, `kinds` {task: kind}."""
  specs, feed = signature_inputs(model, inputs_spec)
  images = image_inputs(specs)
  specs = {k: (_uint8(v) if k in images else v) for k, v in specs.items()}

  def serve(features):
    # SegNet's pooling indices as a mask: same values, ops LiteRT converts.
    with model_layers.convertible():
      out = model(feed(preprocess(features, images)), training=False)
    return postprocess(out, kinds, families, logits)

  return serve, specs


def export_serving(model, inputs_spec, kinds, path: str, families=None,
                   logits: bool = False) -> str:
  """Writes the serving SavedModel of `model` at `path` (endpoint `serve`,
  see the module doc), atomically; returns `path`."""
  fn, specs = serving_function(model, inputs_spec, kinds, families, logits)
  return write_endpoint(model, fn, specs, path)
