"""Parameters and multiply-accumulates of a model, whole and per task.

`cost(model, input_shape)` traces one call of the model (batch 1) with every
leaf layer's `call` wrapped so each call is recorded with its input and
output, and counts multiply-accumulates (MACs) layer by layer:

  Conv2D            Hₒ·Wₒ·Cₒ · kₕ·k_w·Cᵢ / groups
  DepthwiseConv2D   Hₒ·Wₒ·Cₒ · kₕ·k_w               (Cₒ = Cᵢ · multiplier)
  Conv2DTranspose   Hᵢ·Wᵢ·Cᵢ · kₕ·k_w·Cₒ
  Dense             (positions) · Cᵢ · units

Bias adds, BatchNorm, activations, pooling and element-wise products are not
MACs (the usual convention, and seed 001's "GigaMACS"). A task's cost "alone"
is what computing only that task's output needs: the layer calls its output
tensor depends on, found by walking the traced graph back from the output.
So MTAN's shared attention convs count once per task that calls them, and a
cross-stitch task pays for every column before the last unit.

`profiler_flops` reads TensorFlow's own count (tf.compat.v1.profiler on the
same concrete graph); for the MAC-carrying op types FLOPs = 2 · MACs, which
the tests check.
"""

import dataclasses
from typing import Dict, Mapping, Sequence, Tuple, Union

import keras
import numpy as np
import tensorflow as tf

# Op types whose FLOPs the profiler counts as 2·MACs of the layers above.
MAC_OP_TYPES = ("Conv2D", "DepthwiseConv2dNative", "Conv2DBackpropInput",
                "MatMul", "BatchMatMulV2")


@dataclasses.dataclass
class TaskCost:
  params: int  # every weight (trainable or not) on the task's path
  macs: int

  @property
  def gmacs(self) -> float:
    return self.macs / 1e9


@dataclasses.dataclass
class Cost:
  """Whole-network and per-task cost of one example."""
  params: int
  trainable_params: int
  macs: int
  tasks: Dict[str, TaskCost]

  @property
  def gmacs(self) -> float:
    return self.macs / 1e9


def _size(shape) -> int:
  return int(np.prod([int(d) for d in shape]))


def layer_macs(layer, x, y) -> int:
  """MACs of one call of `layer` with input x and output y (batch 1)."""
  if isinstance(layer, keras.layers.DepthwiseConv2D):
    kh, kw = layer.kernel_size
    return _size(y.shape[1:]) * kh * kw
  if isinstance(layer, keras.layers.Conv2DTranspose):
    kh, kw = layer.kernel_size
    return _size(x.shape[1:]) * kh * kw * int(y.shape[-1])
  if isinstance(layer, keras.layers.SeparableConv2D):
    kh, kw = layer.kernel_size
    cin = int(x.shape[-1])
    mid = cin * layer.depth_multiplier
    spatial = _size(y.shape[1:-1])
    return spatial * mid * kh * kw + spatial * mid * int(y.shape[-1])
  if isinstance(layer, keras.layers.Conv2D):
    kh, kw = layer.kernel_size
    cin = int(x.shape[-1])
    return _size(y.shape[1:]) * kh * kw * cin // layer.groups
  if isinstance(layer, keras.layers.Dense):
    return _size(x.shape[1:]) * int(y.shape[-1])
  return 0


def _specs(model, input_shape):
  inputs = getattr(model, "_inputs_struct", None)  # functional models
  if input_shape is None and inputs is not None:
    return tf.nest.map_structure(
        lambda t: tf.TensorSpec((1,) + tuple(t.shape[1:]), t.dtype), inputs)
  if inputs is not None and not isinstance(inputs, (Mapping, list)) and \
      not isinstance(input_shape, (Mapping, tf.TensorSpec)):
    return tf.TensorSpec((1,) + tuple(input_shape), inputs.dtype)
  if isinstance(input_shape, tf.TensorSpec):  # a model of one plain tensor
    return tf.TensorSpec((1,) + tuple(input_shape.shape), tf.float32)
  if isinstance(input_shape, Mapping):
    shapes = dict(input_shape)
  else:
    shape = tuple(input_shape)
    if len(shape) == 2:
      shape += (3,)
    keys = getattr(model, "input_keys", ("image",))
    shapes = {k: shape for k in keys}
  return {k: tf.TensorSpec((1,) + tuple(s), tf.float32)
          for k, s in shapes.items()}


def _leaves(model):
  return [l for l in model._flatten_layers(include_self=False)  # pylint: disable=protected-access
          if not list(l._flatten_layers(include_self=False))]  # pylint: disable=protected-access


def _trace(model, input_shape):
  """Concrete graph of one call, the recorded leaf calls and the outputs."""
  records, result = [], {}
  specs = _specs(model, input_shape)
  if not model.built:
    # Layers that create sublayers in build() (InvertedResidual) must exist
    # before the leaves are listed and wrapped.
    model(tf.nest.map_structure(lambda s: tf.zeros(s.shape), specs),
          training=False)
  leaves = _leaves(model)
  originals = []
  for layer in leaves:
    original = layer.call

    def wrapped(*args, _layer=layer, _call=original, **kwargs):
      out = _call(*args, **kwargs)
      records.append((_layer, args[0], out))
      return out
    originals.append((layer, original))
    object.__setattr__(layer, "call", wrapped)

  def fn(inputs):
    # tf.function may trace twice (the first trace builds variables): keep
    # the records of the last trace, the graph that is returned.
    del records[:]
    result["out"] = model(inputs, training=False)
    return result["out"]

  try:
    concrete = tf.function(fn).get_concrete_function(specs)
  finally:
    for layer, _ in originals:
      object.__delattr__(layer, "call")
  return concrete, records, result["out"]


def _ancestors(tensors) -> set:
  seen, stack = set(), [t.op for t in tensors]
  while stack:
    op = stack.pop()
    if op.name in seen:
      continue
    seen.add(op.name)
    stack.extend(t.op for t in op.inputs)
  return seen


def cost(model, input_shape: Union[None, Sequence[int],
                                   Mapping[str, Sequence[int]]] = None
         ) -> Cost:
  """Params and MACs of `model` on one example, whole and per task.

  Args:
    model: any Keras model returning {task: tensor}.
    input_shape: None for a functional model (its inputs' shapes), the
      shape of a functional model's one input, (H, W) or (H, W, C) of every
      image input, a dict
      {input name: (H, W, C)}, or a `tf.TensorSpec` (batch dim excluded)
      for a model that takes one plain tensor.
  """
  _, records, outputs = _trace(model, input_shape)
  total = 0
  per_call = []
  for layer, x, y in records:
    y0 = tf.nest.flatten(y)[0]
    macs = layer_macs(layer, x, y0)
    total += macs
    per_call.append((layer, y0, macs))
  tasks = {}
  for name, out in outputs.items():
    ops = _ancestors(tf.nest.flatten(out))
    layers, macs = {}, 0
    for layer, y0, m in per_call:
      if y0.op.name in ops:
        macs += m
        layers[id(layer)] = layer
    params = sum(_size(w.shape) for l in layers.values() for w in l.weights)
    tasks[name] = TaskCost(params=params, macs=macs)
  trainable = sum(_size(v.shape) for v in model.trainable_variables)
  return Cost(params=model.count_params(), trainable_params=trainable,
              macs=total, tasks=tasks)


def profiler_flops(model, input_shape,
                   op_types: Tuple[str, ...] = MAC_OP_TYPES) -> int:
  """TensorFlow profiler FLOPs of one call, summed over `op_types`."""
  concrete, _, _ = _trace(model, input_shape)
  opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  opts["output"] = "none"
  profile = tf.compat.v1.profiler.profile(graph=concrete.graph, cmd="op",
                                          options=opts)
  # The "op" view nests op-type nodes; walk the whole tree.
  total, stack = 0, list(profile.children)
  while stack:
    node = stack.pop()
    if node.name in op_types:
      total += node.float_ops
    stack.extend(node.children)
  return int(total)
