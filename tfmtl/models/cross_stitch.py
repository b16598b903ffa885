"""Cross-stitch networks (Misra, Shrivastava, Gupta & Hebert, CVPR 2016) on
SegNet columns, the "Cross-Stitch" baseline of the MTAN paper's table.

One SegNet column per task (segnet.SegNetTrunk's blocks). After every
encoder stage (after pooling) and after decoder steps 0..3, a cross-stitch
unit mixes the T columns' activations with a learned T×T matrix α:

    x̃ᵗ = Σₛ αₜₛ xˢ,     α initialised to αₜₜ = 0.9, αₜₛ = 0.1 / (T − 1)

(Misra et al. §3.2, their (α_S, α_D) = (0.9, 0.1) initialisation; one scalar
per task pair per unit, as their main setting). Column t unpools with its own
indices, as Liu's `model_segnet_cross.py`.

Shared / task-specific split. The rule is: a variable is task-specific only
if no other task's output depends on it. Through the mixing, task t's output
depends on every column's weights before the last unit, so those weights and
all α are *shared*; after the last unit (decoder step 4 of each column and
its head) each column feeds only its task, so those are *task-specific*.
"""

from typing import Mapping, Optional, Sequence

import keras
import tensorflow as tf

from tfmtl.models import layers as L
from tfmtl.models.base import MultiTaskModel
from tfmtl.models.segnet import FILTERS, STRIDE, SegNetTrunk


class CrossStitchUnit(keras.layers.Layer):
  """x̃ᵗ = Σₛ αₜₛ xˢ for a list of T same-shape tensors.

  Args:
    num_tasks: T.
    self_weight: initial αₜₜ; the rest of each row shares 1 − αₜₜ.
  """

  def __init__(self, num_tasks: int, self_weight: float = 0.9, **kwargs):
    super().__init__(**kwargs)
    self.num_tasks, self.self_weight = int(num_tasks), float(self_weight)
    t = self.num_tasks
    other = (1.0 - self.self_weight) / (t - 1) if t > 1 else 0.0
    init = (self.self_weight - other) * tf.eye(t) + other * tf.ones([t, t])
    self.alpha = self.add_weight(
        shape=(t, t), name="alpha",
        initializer=keras.initializers.Constant(init.numpy()))

  def call(self, xs):
    stacked = tf.stack(xs, axis=0)  # [T, B, H, W, C]
    mixed = tf.tensordot(self.alpha, stacked, axes=[[1], [0]])
    return tf.unstack(mixed, num=self.num_tasks, axis=0)

  def get_config(self):
    return {**super().get_config(), "num_tasks": self.num_tasks,
            "self_weight": self.self_weight}


class CrossStitch(L.LazyBuild, MultiTaskModel):
  """T SegNet columns joined by cross-stitch units.

  Args:
    tasks: {task: output channels} (or a list of known task names).
    task_names: the builder's task names (alternative to `tasks`).
    output_channels: {task: channels} for names given without channels.
    width: channel multiplier (1.0 = paper size).
    self_weight: initial diagonal of every α.
    depth_tasks: task names whose head outputs non-negative depth.
    depth_activation: "softplus", "relu" or "inverse".
  """

  def __init__(self, tasks: Optional[Mapping[str, int]] = None,
               task_names: Optional[Sequence[str]] = None,
               output_channels: Optional[Mapping[str, int]] = None,
               width: float = 1.0, self_weight: float = 0.9,
               depth_tasks: Sequence[str] = ("depth",),
               depth_activation: str = "softplus", **kwargs):
    super().__init__(**kwargs)
    tasks = L.resolve_tasks(tasks, task_names, output_channels)
    L.check_depth_activation(depth_activation)
    self._config = dict(tasks=tasks, width=float(width),
                        self_weight=float(self_weight),
                        depth_tasks=list(depth_tasks),
                        depth_activation=depth_activation)
    # === Layers ===
    f = L.scaled(FILTERS, width)
    n = len(tasks)
    # The columns reuse SegNetTrunk's blocks but are run stage by stage.
    self.columns = {t: SegNetTrunk(f, name=f"{t}_column") for t in tasks}
    self.encoder_units = [CrossStitchUnit(n, self_weight, name=f"cs_enc{i}")
                          for i in range(5)]
    self.decoder_units = [CrossStitchUnit(n, self_weight, name=f"cs_dec{j}")
                          for j in range(4)]
    self.heads = {t: L.PredictionHead(f[0], c, name=f"{t}_head")
                  for t, c in tasks.items()}
    shared = self.encoder_units + self.decoder_units
    for col in self.columns.values():
      shared += (col.encoder_block + col.conv_block_enc +
                 col.decoder_block[1:] + col.conv_block_dec[1:])
    self._register(shared=shared, per_task={
        t: [self.columns[t].decoder_block[0], self.columns[t].conv_block_dec[0],
            self.heads[t]] for t in tasks})

  def call(self, inputs, training=False):
    x = L.image_of(inputs)
    L.check_divisible(x, STRIDE, "cross_stitch")
    c = self._config
    names = list(c["tasks"])
    cols = [self.columns[t] for t in names]
    hs, idx = [x] * len(names), [[] for _ in names]
    for i in range(5):
      for n, col in enumerate(cols):
        e = col.encoder_block[i](hs[n], training=training)
        e = col.conv_block_enc[i](e, training=training)
        hs[n], index = L.max_pool_with_argmax(e)
        idx[n].append(index)
      hs = self.encoder_units[i](hs)
    for j in range(5):
      k = 4 - j
      for n, col in enumerate(cols):
        d = col.decoder_block[k](L.unpool(hs[n], idx[n][k]),
                                 training=training)
        hs[n] = col.conv_block_dec[k](d, training=training)
      if j < 4:
        hs = self.decoder_units[j](hs)
    return {t: L.output_activation(self.heads[t](hs[n]), t, c["depth_tasks"],
                                   c["depth_activation"])
            for n, t in enumerate(names)}

  # === Config ===
  def get_config(self):
    config = super().get_config()
    config.update(self._config)
    return config
