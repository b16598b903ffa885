"""Multi-Task Dense baseline of the MTAN paper (seed 002's `SegNet_dense`).

A shared SegNet s and one full SegNet per task t that, at every stage, reads
the shared network's features next to its own (Liu et al. CVPR 2019, §4.2
"Dense"; Liu's `model_segnet_dense.py`). With Bᵢ the conv blocks below,
pᵢ / p̂ᵢ pooled outputs and idx / îdx their argmax indices:

  shared:  sᵢ = Bˢᵢ(p̂ᵢ₋₁),  (p̂ᵢ, îdxᵢ) = pool(sᵢ);  ûⱼ = unpool(ŝⱼ₋₁, îdx₄₋ⱼ),
           ŝⱼ = Bˢ'₄₋ⱼ(ûⱼ)
  task t:  eᵗ₀ = Bᵗ₀(x),  eᵗᵢ = Bᵗᵢ([pᵗᵢ₋₁, p̂ᵢ₋₁]),  (pᵗᵢ, idxᵗᵢ) = pool(eᵗᵢ)
           uᵗⱼ = unpool(dᵗⱼ₋₁ (pᵗ₄ for j = 0), idxᵗ₄₋ⱼ),
           dᵗⱼ = Bᵗ'₄₋ⱼ([uᵗⱼ, ûⱼ]),   ŷᵗ = headᵗ(dᵗ₄)

Blocks (conv–BN–ReLU, widths f = [64, 128, 256, 512, 512]): stages 0 and 1
are "bottleneck" pairs [c₁, c₂], stages 2–4 triples [c₁, c₁, c₂]; the first
task decoder block is [2f₀, f₀]. The reference's last shared decoder block
(f₀ → f₀ → classes) feeds nothing (tasks read the unpooled ûⱼ, not ŝⱼ), so
it is not built here: a variable no output depends on has no gradient and
would break the shared/task partition.
"""

from typing import Mapping, Optional, Sequence

from tfmtl.models import layers as L
from tfmtl.models.base import MultiTaskModel
from tfmtl.models.segnet import FILTERS, STRIDE


def _block(c1, c2, stage, name):
  return L.ConvBlock([c1, c2] if stage < 2 else [c1, c1, c2], name=name)


class SegNetDense(L.LazyBuild, MultiTaskModel):
  """Shared SegNet plus one densely connected SegNet per task.

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
    down = [f[0]] + f[:4]  # decoder block k outputs fₖ₋₁ (f₋₁ := f₀)
    self.encoder_block = [_block(f[i], f[i], i, f"encoder_block{i}")
                          for i in range(5)]
    # Shared decoder blocks 1..4; block 0 is dead in the reference.
    # String keys: SavedModel refuses a dict of layers with int keys.
    self.decoder_block = {str(k): _block(down[k], down[k], k,
                                         f"decoder_block{k}")
                          for k in range(1, 5)}
    self.encoder_t, self.decoder_t, self.heads = {}, {}, {}
    for t, c in tasks.items():
      self.encoder_t[t] = [_block(f[i], f[i], i, f"{t}_encoder_block{i}")
                           for i in range(5)]
      self.decoder_t[t] = [
          _block(2 * f[0] if k == 0 else down[k], down[k], k,
                 f"{t}_decoder_block{k}") for k in range(5)]
      self.heads[t] = L.PredictionHead(f[0], c, name=f"{t}_head")
    self._register(
        shared=self.encoder_block + list(self.decoder_block.values()),
        per_task={t: self.encoder_t[t] + self.decoder_t[t] + [self.heads[t]]
                  for t in tasks})

  def call(self, inputs, training=False):
    x = L.image_of(inputs)
    L.check_divisible(x, STRIDE, "segnet_dense")
    c = self._config
    pooled, indices, h = [], [], x
    for i in range(5):
      p, idx = L.max_pool_with_argmax(self.encoder_block[i](h,
                                                            training=training))
      pooled.append(p)
      indices.append(idx)
      h = p
    ups = []
    for j in range(5):
      ups.append(L.unpool(h, indices[4 - j]))
      if j < 4:
        h = self.decoder_block[str(4 - j)](ups[j], training=training)
    out = {}
    for t in c["tasks"]:
      h, t_idx = x, []
      for i in range(5):
        inp = h if i == 0 else L.concat([h, pooled[i - 1]])
        h, idx = L.max_pool_with_argmax(
            self.encoder_t[t][i](inp, training=training))
        t_idx.append(idx)
      for j in range(5):
        u = L.unpool(h, t_idx[4 - j])
        h = self.decoder_t[t][4 - j](L.concat([u, ups[j]]),
                                     training=training)
      out[t] = L.output_activation(self.heads[t](h), t, c["depth_tasks"],
                                   c["depth_activation"])
    return out

  # === Config ===
  def get_config(self):
    config = super().get_config()
    config.update(self._config)
    return config
