"""Hard parameter sharing for dense prediction: the simplest baseline.

Caruana (1997)'s hard sharing on images: a shared conv encoder φ (stages of
3×3 conv stride 2 → BN → ReLU, then 3×3 conv stride 1 → BN → ReLU) and one
small head per task, ŷᵗ = up(hᵗ(φ(x))), where hᵗ is 3×3 conv–BN–ReLU then a
1×1 conv to the task's channels and `up` a bilinear resize to the input
size. Total stride 2^len(filters).
"""

from typing import Mapping, Optional, Sequence

import keras
import tensorflow as tf

from tfmtl.models import layers as L
from tfmtl.models.base import MultiTaskModel


class HardSharingConv(L.LazyBuild, MultiTaskModel):
  """Shared strided conv encoder, per-task conv heads, bilinear upsampling.

  Args:
    tasks: {task: output channels} (or a list of known task names).
    task_names: the builder's task names (alternative to `tasks`).
    output_channels: {task: channels} for names given without channels.
    filters: channels of the encoder stages (each halves H and W).
    head_filters: channels of each head's hidden conv.
    width: multiplier on `filters` and `head_filters`.
    depth_tasks: task names whose head outputs non-negative depth.
    depth_activation: "softplus", "relu" or "inverse".
  """

  def __init__(self, tasks: Optional[Mapping[str, int]] = None,
               task_names: Optional[Sequence[str]] = None,
               output_channels: Optional[Mapping[str, int]] = None,
               filters: Sequence[int] = (32, 64, 128, 256),
               head_filters: int = 64, width: float = 1.0,
               depth_tasks: Sequence[str] = ("depth",),
               depth_activation: str = "softplus", **kwargs):
    super().__init__(**kwargs)
    tasks = L.resolve_tasks(tasks, task_names, output_channels)
    L.check_depth_activation(depth_activation)
    self._config = dict(tasks=tasks, filters=[int(f) for f in filters],
                        head_filters=int(head_filters), width=float(width),
                        depth_tasks=list(depth_tasks),
                        depth_activation=depth_activation)
    # === Layers ===
    f = L.scaled(filters, width)
    hidden = L.scaled([head_filters], width)[0]
    self.encoder = []
    for i, c in enumerate(f):
      self.encoder += [L.ConvBNAct(c, 3, 2, "relu", name=f"down{i}"),
                       L.ConvBNAct(c, 3, 1, "relu", name=f"conv{i}")]
    self.heads = {t: [L.ConvBNAct(hidden, 3, 1, "relu", name=f"{t}_hidden"),
                      keras.layers.Conv2D(c, 1, name=f"{t}_out")]
                  for t, c in tasks.items()}
    self._register(shared=self.encoder, per_task=self.heads)

  @property
  def stride(self):
    """How much the encoder downsamples (2 per conv block): input sides
    must be multiples of it.
    """
    return 2 ** len(self._config["filters"])

  def call_split(self, inputs, training=False):
    x = L.image_of(inputs)
    L.check_divisible(x, self.stride, "hard_sharing_conv")
    c = self._config
    h = x
    for layer in self.encoder:
      h = layer(h, training=training)
    size = tf.shape(x)[1:3]

    def heads(z):
      out = {}
      for t, (hidden, conv) in self.heads.items():
        y = tf.image.resize(conv(hidden(z, training=training)), size)
        out[t] = L.output_activation(y, t, c["depth_tasks"],
                                     c["depth_activation"])
      return out
    return h, heads

  # === Config ===
  def get_config(self):
    config = super().get_config()
    config.update(self._config)
    return config
