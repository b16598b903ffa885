"""Dual-encoder multi-task network of seed 001 (depth, semantic, motion).

Two parallel encoders read the RGB frame and the optical flow with its
confidence (dx, dy, c; 3 channels); their stride-4 features are fused and a
shared encoder continues to stride 32; each task has its own decoder (seed
001: "Two parallel encoders extract appearance and flow feature separately
and fuse them at stride of 4 ... three separate decoders ... the encoder is
common"). Blocks are MobileNetV2 inverted residuals (Sandler et al. 2018),
as the original's light backbone:

  aᵢ = Eᵣ(image), bᵢ = E_f(flow)                      (stride 4 each)
  s₄ = ConvBNReLU6₁ₓ₁([a, b]);  s₈, s₁₆, s₃₂ = S(s₄)    (shared)
  decoder t, an FPN-lite: h = P₃₂(s₃₂); for k = 16, 8, 4:
      h = IRₖ(up(h) + Pₖ(sₖ));   ŷᵗ = up₄(conv₃ₓ₃(h))

Default tasks depth (1), semantic (5 classes), motion (2 classes). Inputs
{"image": [B,H,W,3], "flow": [B,H,W,3]}; total stride 32.
"""

from typing import Mapping, Optional, Sequence

import keras
import tensorflow as tf

from tfmtl.errors import UserError
from tfmtl.models import layers as L
from tfmtl.models.base import MultiTaskModel

STRIDE = 32
DEFAULT_TASKS = {"depth": 1, "semantic": 5, "motion": 2}
# (channels, stride, expansion, repeats) after the stem, MobileNetV2 order.
HEAD_BLOCKS = [(16, 1, 1, 1), (24, 2, 6, 2)]               # to stride 4
SHARED_BLOCKS = [(32, 2, 6, 3), (64, 2, 6, 4), (96, 1, 6, 3),
                 (160, 2, 6, 3), (320, 1, 6, 1)]           # to stride 32


def _stack(spec, width, prefix):
  blocks = []
  for n, (c, s, t, r) in enumerate(spec):
    c = L.scaled([c], width)[0]
    for i in range(r):
      blocks.append(L.InvertedResidual(c, s if i == 0 else 1, t,
                                       name=f"{prefix}{n}_{i}"))
  return blocks


class DualEncoder(L.LazyBuild, MultiTaskModel):
  """RGB + flow encoders fused at stride 4, shared encoder, one decoder/task.

  Args:
    tasks: {task: output channels}; default depth 1, semantic 5, motion 2.
    task_names: the builder's task names (alternative to `tasks`).
    output_channels: {task: channels} for names given without channels.
    width: channel multiplier of both encoders (MobileNetV2's α).
    flow_width: extra multiplier of the flow encoder (it sees a simpler
      signal than RGB).
    decoder_channels: channels inside each decoder (times `width`).
    depth_tasks: task names whose head outputs non-negative depth.
    depth_activation: "softplus", "relu" or "inverse".
  """

  input_keys = ("image", "flow")

  def __init__(self, tasks: Optional[Mapping[str, int]] = None,
               task_names: Optional[Sequence[str]] = None,
               output_channels: Optional[Mapping[str, int]] = None,
               width: float = 1.0, flow_width: float = 1.0,
               decoder_channels: int = 64,
               depth_tasks: Sequence[str] = ("depth",),
               depth_activation: str = "softplus", **kwargs):
    super().__init__(**kwargs)
    if tasks is None and task_names is None:
      tasks = dict(DEFAULT_TASKS)
    tasks = L.resolve_tasks(tasks, task_names, output_channels,
                            defaults={**L.DEFAULT_CHANNELS, **DEFAULT_TASKS})
    L.check_depth_activation(depth_activation)
    self._config = dict(tasks=tasks, width=float(width),
                        flow_width=float(flow_width),
                        decoder_channels=int(decoder_channels),
                        depth_tasks=list(depth_tasks),
                        depth_activation=depth_activation)
    # === Layers ===
    fw = width * flow_width
    self.rgb_encoder = ([L.ConvBNAct(L.scaled([32], width)[0], 3, 2,
                                     name="rgb_stem")] +
                        _stack(HEAD_BLOCKS, width, "rgb_block"))
    self.flow_encoder = ([L.ConvBNAct(L.scaled([32], fw)[0], 3, 2,
                                      name="flow_stem")] +
                         _stack(HEAD_BLOCKS, fw, "flow_block"))
    self.fuse = L.ConvBNAct(L.scaled([24], width)[0], 1, 1, name="fuse")
    self.shared_encoder = _stack(SHARED_BLOCKS, width, "shared_block")
    d = L.scaled([decoder_channels], width)[0]
    self.decoders = {}
    for t, c in tasks.items():
      self.decoders[t] = (
          [L.ConvBNAct(d, 1, 1, name=f"{t}_proj{s}") for s in (32, 16, 8, 4)]
          + [L.InvertedResidual(d, 1, 2, name=f"{t}_refine{s}")
             for s in (16, 8, 4)]
          + [keras.layers.Conv2D(c, 3, padding="same", name=f"{t}_out")])
    self._register(
        shared=(self.rgb_encoder + self.flow_encoder + [self.fuse] +
                self.shared_encoder),
        per_task=self.decoders)

  def call_split(self, inputs, training=False):
    if not isinstance(inputs, Mapping) or "flow" not in inputs:
      raise UserError("dual_encoder needs inputs {'image': [B,H,W,3], "
                      "'flow': [B,H,W,3]} (flow dx, dy, confidence)")
    x, flow = inputs["image"], inputs["flow"]
    L.check_divisible(x, STRIDE, "dual_encoder")
    c = self._config
    a, b = x, flow
    for layer in self.rgb_encoder:
      a = layer(a, training=training)
    for layer in self.flow_encoder:
      b = layer(b, training=training)
    h = self.fuse(L.concat([a, b]), training=training)
    skips = {4: h}
    stride = 4
    for block in self.shared_encoder:
      h = block(h, training=training)
      stride *= block.stride
      skips[stride] = h  # the last block at each stride wins
    size = tf.shape(x)[1:3]

    def heads(z):
      out = {}
      for t, layers in self.decoders.items():
        proj, refine, head = layers[:4], layers[4:7], layers[7]
        y = proj[0](z[32], training=training)
        for n, s in enumerate((16, 8, 4)):
          skip = proj[n + 1](z[s], training=training)
          # resize returns float32 for a 16-bit y (mixed precision).
          y = tf.cast(tf.image.resize(y, tf.shape(skip)[1:3]),
                      skip.dtype) + skip
          y = refine[n](y, training=training)
        y = tf.image.resize(head(y), size)
        out[t] = L.output_activation(y, t, c["depth_tasks"],
                                     c["depth_activation"])
      return out
    # The multi-scale features the decoders read (their skip connections).
    return {s: skips[s] for s in (4, 8, 16, 32)}, heads

  # === Config ===
  def get_config(self):
    config = super().get_config()
    config.update(self._config)
    return config
