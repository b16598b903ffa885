"""Small layers the dense-prediction models share.

- `ConvBlock`: a chain of 3×3 conv → BatchNorm → ReLU (SegNet's `conv_layer`).
- `AttentionMask`: MTAN's soft attention a = σ(BN(W₂ ReLU(BN(W₁ x)))), both
  convs 1×1 (Liu et al. CVPR 2019, §3.2).
- `PredictionHead`: 3×3 conv → 1×1 conv to the task's channels (the seed's
  `conv_layer(..., pred=True)`), then the task's output activation.
- `InvertedResidual`: MobileNetV2's block (Sandler et al. CVPR 2018):
  y = x + P(D(E(x))) with E a 1×1 expansion, D a 3×3 depthwise conv, P a
  linear 1×1 projection; the residual only when stride 1 and cᵢₙ = cₒᵤₜ.
- `max_pool_with_argmax` / `unpool`: SegNet's 2×2 max-pool that remembers
  where each maximum came from, and the unpooling that puts values back at
  exactly those positions (zeros elsewhere).

Plus `resolve_tasks`, which turns the arguments every model accepts into one
ordered {task: output channels} dict.
"""

import contextlib
from typing import Dict, Mapping, Optional, Sequence

import keras
import tensorflow as tf

from tfmtl.errors import UserError

# Output channels of the tasks we know, used when only names are given:
# Cityscapes 7-class semantic (MTAN paper), depth, binary motion, normals.
DEFAULT_CHANNELS = {"semantic": 7, "depth": 1, "motion": 2, "normal": 3}
DEPTH_ACTIVATIONS = ("softplus", "relu", "inverse")


def resolve_tasks(tasks=None, task_names: Optional[Sequence[str]] = None,
                  output_channels: Optional[Mapping[str, int]] = None,
                  defaults: Mapping[str, int] = None) -> Dict[str, int]:
  """{task: output channels} from `tasks` or from `task_names` (+ channels).

  Args:
    tasks: {name: channels}, or a list of names (channels from
      `output_channels`, then `defaults`).
    task_names: the builder's sorted task names (same meaning as a list).
    output_channels: {name: channels} overriding the defaults.
    defaults: channels of known task names.
  """
  defaults = dict(DEFAULT_CHANNELS if defaults is None else defaults)
  defaults.update(dict(output_channels or {}))
  if tasks is not None and task_names is not None:
    if sorted(tasks) != sorted(task_names):
      raise UserError(f"model tasks {sorted(tasks)} differ from task_names "
                      f"{sorted(task_names)}; pass only one of them")
    task_names = None
  if tasks is None:
    tasks = task_names
  if tasks is None:
    raise UserError("model: pass `tasks` ({name: channels}) or `task_names`")
  if hasattr(tasks, "items"):  # a dict or an ml_collections ConfigDict
    out = {str(k): int(v) for k, v in tasks.items()}
  else:
    out = {}
    for name in tasks:
      if name not in defaults:
        raise UserError(
            f"model: no output channels for task {name!r}; give them with "
            f"output_channels={{{name!r}: C}} (known defaults: "
            f"{sorted(defaults)})")
      out[str(name)] = int(defaults[name])
  if not out:
    raise UserError("model: the task list is empty; name at least one task")
  return out


def image_of(inputs):
  """The image tensor of a `{"image": ...}` dict (or a bare tensor)."""
  if isinstance(inputs, Mapping):
    if "image" not in inputs:
      raise UserError(f"model inputs have keys {sorted(inputs)}; a dense "
                      "model needs an 'image' entry [B, H, W, 3]")
    return inputs["image"]
  return inputs


def check_divisible(x, stride: int, model: str):
  """Static check that H and W are multiples of the model's total stride."""
  h, w = x.shape[1], x.shape[2]
  for size, axis in ((h, "height"), (w, "width")):
    if size is not None and size % stride:
      raise UserError(f"{model}: input {axis} {size} is not a multiple of "
                      f"the total stride {stride}; resize or pad the input")


def scaled(filters: Sequence[int], width: float):
  """Channel counts times the width multiplier (at least 1)."""
  return [max(1, int(round(f * width))) for f in filters]


# --- pooling with indices ---------------------------------------------------

_CONVERTIBLE = [False]


@contextlib.contextmanager
def convertible():
  """Export mode: while tracing inside this, the layers use ops LiteRT
  converts and int8 quantises well, with the same values out.

  `max_pool_with_argmax` returns a 0/1 mask of the argmax positions
  instead of flat indices and `unpool` scatters with it (LiteRT has no
  MaxPoolWithArgmax kernel); the depth head's softplus is written
  relu(x) + log(1 + exp(−|x|)) (int8 softplus goes through exp(x), which
  saturates for the large x of far depths). Only for export: no gradient
  is defined for pooling ties the way the indices' path defines it.
  """
  _CONVERTIBLE.append(True)
  try:
    yield
  finally:
    _CONVERTIBLE.pop()


def max_pool_with_argmax(x):
  """2×2/2 max-pool; returns (pooled, flat argmax indices incl. batch), or
  (pooled, argmax mask) within `convertible`."""
  if _CONVERTIBLE[-1]:
    return _max_pool_with_mask(x)
  return tf.nn.max_pool_with_argmax(x, ksize=2, strides=2, padding="VALID",
                                    include_batch_in_index=True)


def _max_pool_with_mask(x):
  """(pooled, mask [B, 2h, 2w, C] 1 at each window's first maximum): the
  first in row-major window order, as MaxPoolWithArgmax picks ties."""
  shape = tf.shape(x)
  x = x[:, :shape[1] // 2 * 2, :shape[2] // 2 * 2]  # VALID drops odd edges
  blocks = tf.nn.space_to_depth(x, 2)  # depth (dy * 2 + dx) * C + c
  bshape = tf.shape(blocks)
  channels = x.shape[-1]
  windows = tf.reshape(blocks, [-1, 4, channels])
  pooled = tf.reshape(tf.reduce_max(windows, axis=1),
                      [bshape[0], bshape[1], bshape[2], channels])
  # select(argmax == k, 1, 0) rather than one_hot: LiteRT's int8 ONE_HOT
  # copies its on/off values' int8 codes into an output of another scale,
  # so its "0/1" mask reads 1/2 (measured: MTAN's int8 depth error went
  # 6.6 -> 59 m). The select quantises its two constants with its output's
  # scale, and keeps the mask int8 where a cast would go through float32.
  index = tf.argmax(windows, axis=1, output_type=tf.int32)[:, None, :]
  first = tf.where(tf.equal(index, tf.reshape(tf.range(4), [1, 4, 1])),
                   tf.constant(1, x.dtype), tf.constant(0, x.dtype))
  mask = tf.nn.depth_to_space(tf.reshape(first, bshape), 2)
  return pooled, mask


def max_pool(x):
  """Plain 2×2/2 max-pool (MTAN's attention branch keeps no indices)."""
  return tf.nn.max_pool2d(x, ksize=2, strides=2, padding="VALID")


def concat(tensors):
  """Channel concatenation (torch.cat(..., dim=1) of the NCHW reference)."""
  return tf.concat(tensors, axis=-1)


def unpool(x, indices):
  """Inverse of `max_pool_with_argmax`: scatter x to its argmax positions.

  The output is [B, 2h, 2w, C], zero except where a maximum came from
  (SegNet, Badrinarayanan et al. 2017, §3; torch's MaxUnpool2d). With a
  float argmax mask (`convertible`) the value is spread over its
  window and kept where the mask is 1.
  """
  if indices.dtype.is_floating:
    spread = tf.nn.depth_to_space(tf.tile(x, [1, 1, 1, 4]), 2)
    return spread * tf.cast(indices, x.dtype)
  shape = tf.shape(x, out_type=tf.int64)
  out_shape = tf.stack([shape[0], 2 * shape[1], 2 * shape[2], shape[3]])
  flat = tf.scatter_nd(tf.reshape(indices, [-1, 1]), tf.reshape(x, [-1]),
                       tf.reshape(tf.reduce_prod(out_shape), [1]))
  out = tf.reshape(flat, out_shape)
  static = x.shape
  return tf.ensure_shape(out, [static[0],
                               None if static[1] is None else 2 * static[1],
                               None if static[2] is None else 2 * static[2],
                               static[3]])


def upsample_bilinear(x, factor: int = 2):
  """Bilinear ×factor resize with align_corners=True (torch's interpolate
  as MTAN calls it)."""
  h, w = tf.shape(x)[1], tf.shape(x)[2]
  out = tf.raw_ops.ResizeBilinear(images=x,
                                  size=tf.stack([h * factor, w * factor]),
                                  align_corners=True)
  static = x.shape
  return tf.ensure_shape(
      out, [static[0], None if static[1] is None else factor * static[1],
            None if static[2] is None else factor * static[2], static[3]])


# --- blocks -------------------------------------------------------------------

class LazyBuild:
  """Mixin for containers: their sublayers build themselves on first call.

  Keras warns when a layer without `build()` holds unbuilt sublayers; every
  sublayer here is called (and so built) on the container's first call.
  """

  def build(self, input_shape=None):  # pylint: disable=unused-argument
    self.built = True


class ConvBlock(LazyBuild, keras.layers.Layer):
  """`len(filters)` × (3×3 conv → BatchNorm → ReLU), one per entry.

  Args:
    filters: output channels of each conv in order.
  """

  def __init__(self, filters: Sequence[int], **kwargs):
    super().__init__(**kwargs)
    self.filters = [int(f) for f in filters]
    self.convs = [keras.layers.Conv2D(f, 3, padding="same", name=f"conv{i}")
                  for i, f in enumerate(self.filters)]
    self.norms = [keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5,
                                                  name=f"bn{i}")
                  for i in range(len(self.filters))]

  def call(self, x, training=None):
    for conv, norm in zip(self.convs, self.norms):
      x = tf.nn.relu(norm(conv(x), training=training))
    return x

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.filters[-1],)

  def get_config(self):
    return {**super().get_config(), "filters": self.filters}


class AttentionMask(LazyBuild, keras.layers.Layer):
  """MTAN attention: a = σ(BN(conv1×1(ReLU(BN(conv1×1(x)))))) ∈ (0, 1)."""

  def __init__(self, hidden: int, channels: int, **kwargs):
    super().__init__(**kwargs)
    self.hidden, self.channels = int(hidden), int(channels)
    self.conv1 = keras.layers.Conv2D(self.hidden, 1, name="conv1")
    self.bn1 = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5,
                                               name="bn1")
    self.conv2 = keras.layers.Conv2D(self.channels, 1, name="conv2")
    self.bn2 = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5,
                                               name="bn2")

  def call(self, x, training=None):
    x = tf.nn.relu(self.bn1(self.conv1(x), training=training))
    return tf.sigmoid(self.bn2(self.conv2(x), training=training))

  def get_config(self):
    return {**super().get_config(), "hidden": self.hidden,
            "channels": self.channels}


def output_activation(x, task: str, depth_tasks: Sequence[str],
                      depth_activation: str):
  """Logits for classification tasks; non-negative depth for depth tasks.

  depth_activation: "softplus" d = log(1 + eˣ); "relu" d = max(x, 0);
  "inverse" the head predicts inverse depth ρ = softplus(x) and outputs
  d = 1 / (ρ + 1e-3) (bounded by 1000, always positive).
  """
  if task not in depth_tasks:
    return x
  if depth_activation == "softplus" and _CONVERTIBLE[-1]:
    return _softplus_for_export(x)
  if depth_activation == "softplus":
    return tf.nn.softplus(x)
  if depth_activation == "relu":
    return tf.nn.relu(x)
  return 1.0 / (tf.nn.softplus(x) + 1e-3)


def _softplus_for_export(x):
  """softplus(x) = relu(x) + log(1 + exp(−|x|)): exp's argument stays ≤ 0,
  so every intermediate is bounded and quantises (see `convertible`). Log,
  not log1p: tf2onnx writes an ONNX op for Log1p that no runtime has; in
  float32 the two differ by < 1e-7 absolute here."""
  return tf.nn.relu(x) + tf.math.log(1.0 + tf.exp(-tf.abs(x)))


def check_depth_activation(value: str):
  if value not in DEPTH_ACTIVATIONS:
    raise UserError(f"depth_activation {value!r} is not one of "
                    f"{DEPTH_ACTIVATIONS}")


class PredictionHead(LazyBuild, keras.layers.Layer):
  """3×3 conv (c → c) then 1×1 conv (c → out): the seed's prediction layer."""

  def __init__(self, hidden: int, out_channels: int, **kwargs):
    super().__init__(**kwargs)
    self.hidden, self.out_channels = int(hidden), int(out_channels)
    self.conv1 = keras.layers.Conv2D(self.hidden, 3, padding="same",
                                     name="conv1")
    self.conv2 = keras.layers.Conv2D(self.out_channels, 1, name="conv2")

  def call(self, x):
    return self.conv2(self.conv1(x))

  def get_config(self):
    return {**super().get_config(), "hidden": self.hidden,
            "out_channels": self.out_channels}


class InvertedResidual(keras.layers.Layer):
  """MobileNetV2 inverted residual: 1×1 expand → 3×3 depthwise → 1×1 linear.

  Args:
    filters: output channels.
    stride: depthwise stride (1 or 2).
    expansion: hidden channels = expansion × input channels (1 skips the
      expansion conv, as MobileNetV2's first block).
  """

  def __init__(self, filters: int, stride: int = 1, expansion: int = 6,
               **kwargs):
    super().__init__(**kwargs)
    self.filters, self.stride, self.expansion = (int(filters), int(stride),
                                                 int(expansion))

  def build(self, input_shape):
    cin = int(input_shape[-1])
    hidden = cin * self.expansion
    bn = lambda n: keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3,
                                                   name=n)
    self.expand = None
    if self.expansion != 1:
      self.expand = keras.layers.Conv2D(hidden, 1, use_bias=False,
                                        name="expand")
      self.expand_bn = bn("expand_bn")
    self.depthwise = keras.layers.DepthwiseConv2D(
        3, strides=self.stride, padding="same", use_bias=False,
        name="depthwise")
    self.depthwise_bn = bn("depthwise_bn")
    self.project = keras.layers.Conv2D(self.filters, 1, use_bias=False,
                                       name="project")
    self.project_bn = bn("project_bn")
    self.residual = self.stride == 1 and cin == self.filters

  def call(self, x, training=None):
    h = x
    if self.expand is not None:
      h = tf.nn.relu6(self.expand_bn(self.expand(h), training=training))
    h = tf.nn.relu6(self.depthwise_bn(self.depthwise(h), training=training))
    h = self.project_bn(self.project(h), training=training)
    return x + h if self.residual else h

  def get_config(self):
    return {**super().get_config(), "filters": self.filters,
            "stride": self.stride, "expansion": self.expansion}


class ConvBNAct(LazyBuild, keras.layers.Layer):
  """k×k conv (stride s) → BatchNorm → activation (ReLU6 by default)."""

  def __init__(self, filters: int, kernel_size: int = 3, stride: int = 1,
               activation: str = "relu6", **kwargs):
    super().__init__(**kwargs)
    self.filters, self.kernel_size, self.stride = (int(filters),
                                                   int(kernel_size),
                                                   int(stride))
    self.activation = activation
    self.conv = keras.layers.Conv2D(self.filters, self.kernel_size,
                                    strides=self.stride, padding="same",
                                    use_bias=False, name="conv")
    self.bn = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-3,
                                              name="bn")

  def call(self, x, training=None):
    x = self.bn(self.conv(x), training=training)
    return keras.activations.get(self.activation)(x)

  def get_config(self):
    return {**super().get_config(), "filters": self.filters,
            "kernel_size": self.kernel_size, "stride": self.stride,
            "activation": self.activation}
