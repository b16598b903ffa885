"""Multi-Task Attention Network on SegNet (Liu, Johns & Davison, CVPR 2019).

One shared SegNet (segnet.SegNetTrunk) is the global feature pool; each task
t has its own attention modules that select features from it, wired exactly
as seed 002's forward pass (= Liu's `model_segnet_mtan.py`). With e⁰ⱼ, e¹ⱼ
the first-block / stage outputs of encoder stage j, uⱼ and dⱼ the unpooled
input and the output of decoder step j:

  encoder, j = 0..4:
    aᵗⱼ = Attᵗⱼ(e⁰ⱼ)                       (j = 0)
    aᵗⱼ = Attᵗⱼ([e⁰ⱼ, ẽᵗⱼ₋₁])               (j > 0, channel concat)
    ẽᵗⱼ = maxpool₂ₓ₂(Fⱼ(aᵗⱼ ⊙ e¹ⱼ))
  decoder, j = 0..4 (level k = 4 − j):
    gᵗⱼ = Gₖ(up₂ₓ(d̃ᵗⱼ₋₁))                  (d̃ᵗ₋₁ := ẽᵗ₄; bilinear, corners)
    d̃ᵗⱼ = Attᵗₖ([uⱼ, gᵗⱼ]) ⊙ dⱼ
  output: ŷᵗ = headᵗ(d̃ᵗ₄),

Att = σ(BN(1×1 conv(ReLU(BN(1×1 conv(·)))))) is task-specific; the 3×3
conv–BN–ReLU blocks Fⱼ, Gₖ are shared by all tasks (one module per level in
the reference), so they are shared variables. Any number of tasks.
"""

from typing import Mapping, Optional, Sequence

from tfmtl.models import layers as L
from tfmtl.models.base import MultiTaskModel
from tfmtl.models.segnet import FILTERS, STRIDE, SegNetTrunk


class MTAN(L.LazyBuild, MultiTaskModel):
  """SegNet-MTAN with one attention network per task.

  Args:
    tasks: {task: output channels} (or a list of known task names).
    task_names: the builder's task names (alternative to `tasks`).
    output_channels: {task: channels} for names given without channels.
    width: channel multiplier (1.0 = paper size).
    depth_tasks: task names whose head outputs non-negative depth.
    depth_activation: "softplus", "relu" or "inverse".
  """

  def __init__(self, tasks: Optional[Mapping[str, int]] = None,
               task_names: Optional[Sequence[str]] = None,
               output_channels: Optional[Mapping[str, int]] = None,
               width: float = 1.0, depth_tasks: Sequence[str] = ("depth",),
               depth_activation: str = "softplus", **kwargs):
    super().__init__(**kwargs)
    tasks = L.resolve_tasks(tasks, task_names, output_channels)
    L.check_depth_activation(depth_activation)
    self._config = dict(tasks=tasks, width=float(width),
                        depth_tasks=list(depth_tasks),
                        depth_activation=depth_activation)
    # === Layers ===
    f = L.scaled(FILTERS, width)
    self.trunk = SegNetTrunk(f, name="trunk")
    # Fⱼ: fⱼ -> fⱼ₊₁ (the last keeps f₄); Gₖ: fₖ -> fₖ₋₁ (G₀ and G₄ keep).
    self.encoder_block_att = [
        L.ConvBlock([f[min(j + 1, 4)]], name=f"encoder_block_att{j}")
        for j in range(5)]
    self.decoder_block_att = [
        L.ConvBlock([f[4] if k == 4 else f[max(k - 1, 0)]],
                    name=f"decoder_block_att{k}") for k in range(5)]
    self.encoder_att, self.decoder_att, self.heads = {}, {}, {}
    for t, c in tasks.items():
      self.encoder_att[t] = [L.AttentionMask(f[j], f[j],
                                             name=f"{t}_encoder_att{j}")
                             for j in range(5)]
      # decoder attention at level k outputs the channels of dⱼ: fₖ₋₁.
      self.decoder_att[t] = [
          L.AttentionMask(f[max(k - 1, 0)], f[max(k - 1, 0)],
                          name=f"{t}_decoder_att{k}") for k in range(5)]
      self.heads[t] = L.PredictionHead(f[0], c, name=f"{t}_head")
    self._register(
        shared=[self.trunk] + self.encoder_block_att + self.decoder_block_att,
        per_task={t: self.encoder_att[t] + self.decoder_att[t] +
                  [self.heads[t]] for t in tasks})

  def call(self, inputs, training=False):
    x = L.image_of(inputs)
    L.check_divisible(x, STRIDE, "mtan")
    c = self._config
    g = self.trunk(x, training=training)
    out = {}
    for t in c["tasks"]:
      prev = None
      for j in range(5):
        a_in = g["enc0"][j] if j == 0 else L.concat([g["enc0"][j], prev])
        a = self.encoder_att[t][j](a_in, training=training)
        prev = self.encoder_block_att[j](a * g["enc1"][j], training=training)
        prev = L.max_pool(prev)
      for j in range(5):
        k = 4 - j
        h = self.decoder_block_att[k](L.upsample_bilinear(prev),
                                      training=training)
        a = self.decoder_att[t][k](L.concat([g["up"][j], h]),
                                   training=training)
        prev = a * g["dec"][j]
      out[t] = L.output_activation(self.heads[t](prev), t, c["depth_tasks"],
                                   c["depth_activation"])
    return out

  # === Config ===
  def get_config(self):
    config = super().get_config()
    config.update(self._config)
    return config
