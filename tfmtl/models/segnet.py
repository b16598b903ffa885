"""SegNet encoder–decoder, single-task and split multi-task forms.

The SegNet of seed 002 / Liu, Johns & Davison, "End-to-End Multi-Task
Learning with Attention", CVPR 2019 (their `model_segnet_single/split.py`):
five encoder stages with filters f = [64, 128, 256, 512, 512], each
    e⁰ᵢ = ConvBlock([fᵢ])(pᵢ₋₁),  e¹ᵢ = ConvBlock([fᵢ] × nᵢ)(e⁰ᵢ),
    (pᵢ, idxᵢ) = maxpool₂ₓ₂(e¹ᵢ)          n = (1, 1, 2, 2, 2),
and a mirrored decoder, step j = 0..4 at level k = 4 − j:
    uⱼ = unpool(dⱼ₋₁ (p₄ for j = 0), idxₖ),  d⁰ⱼ = ConvBlock([fₖ₋₁])(uⱼ),
    dⱼ = ConvBlock([fₖ₋₁] × nₖ)(d⁰ⱼ)          (f₋₁ := f₀).
A task head is 3×3 conv (f₀ → f₀) then 1×1 conv to the task's channels.

Forms:
- `single`: one independent SegNet per task (no shared variable): the
  "One Task" baseline of the MTAN paper, T networks.
- `split`: one shared SegNet, one head per task ("Split" in the paper), with
  `variant` "standard", "wide" (f₄ = 1024) or "deep" (every conv–BN–ReLU
  becomes two, as `model_segnet_split.py --type deep`).
Total stride 32: H and W must be multiples of 32.
"""

from typing import Mapping, Optional, Sequence

import keras

from tfmtl.errors import UserError
from tfmtl.models import layers as L
from tfmtl.models.base import MultiTaskModel

FILTERS = (64, 128, 256, 512, 512)
WIDE_FILTERS = (64, 128, 256, 512, 1024)
STRIDE = 32
FORMS = ("single", "split")
VARIANTS = ("standard", "wide", "deep")


class SegNetTrunk(L.LazyBuild, keras.layers.Layer):
  """SegNet encoder–decoder without a head; returns every intermediate.

  The call returns a dict of lists (level order as in the seed's forward):
  `enc0[i]`, `enc1[i]` (first block / stage output of encoder stage i),
  `pool[i]`, `indices[i]`, `up[j]` (unpooled input of decoder step j) and
  `dec[j]` (output of decoder step j); `dec[4]` is the f₀-channel output.

  Args:
    filters: the five stage widths.
    deep: every conv-BN-ReLU layer becomes two (Split-Deep).
  """

  def __init__(self, filters: Sequence[int] = FILTERS, deep: bool = False,
               **kwargs):
    super().__init__(**kwargs)
    self.filters, self.deep = [int(f) for f in filters], bool(deep)
    f = self.filters
    r = 2 if deep else 1
    # Conv counts per stage follow the seed: 1, 1, 2, 2, 2 after the first.
    reps = (1, 1, 2, 2, 2)
    self.encoder_block = [L.ConvBlock([f[i]] * r, name=f"encoder_block{i}")
                          for i in range(5)]
    self.conv_block_enc = [
        L.ConvBlock([f[i]] * reps[i] * r,
                    name=f"conv_block_enc{i}") for i in range(5)]
    out = [f[0]] + f[:4]  # decoder block k maps fₖ -> fₖ₋₁ (f₋₁ := f₀)
    self.decoder_block = [L.ConvBlock([out[k]] * r, name=f"decoder_block{k}")
                          for k in range(5)]
    self.conv_block_dec = [
        L.ConvBlock([out[k]] * reps[k] * r,
                    name=f"conv_block_dec{k}") for k in range(5)]

  def call(self, x, training=None):
    enc0, enc1, pool, indices, up, dec = [], [], [], [], [], []
    h = x
    for i in range(5):
      enc0.append(self.encoder_block[i](h, training=training))
      enc1.append(self.conv_block_enc[i](enc0[i], training=training))
      p, idx = L.max_pool_with_argmax(enc1[i])
      pool.append(p)
      indices.append(idx)
      h = p
    for j in range(5):
      k = 4 - j
      up.append(L.unpool(h, indices[k]))
      d = self.decoder_block[k](up[j], training=training)
      h = self.conv_block_dec[k](d, training=training)
      dec.append(h)
    return {"enc0": enc0, "enc1": enc1, "pool": pool, "indices": indices,
            "up": up, "dec": dec}

  def get_config(self):
    return {**super().get_config(), "filters": self.filters,
            "deep": self.deep}


class SegNet(L.LazyBuild, MultiTaskModel):
  """SegNet for dense prediction, `single` (one network per task) or `split`.

  Args:
    tasks: {task: output channels} (or a list of known task names).
    task_names: the builder's task names (alternative to `tasks`).
    output_channels: {task: channels} for names given without channels.
    form: "single" or "split".
    variant: "standard", "wide" or "deep" (split baselines of the paper).
    width: channel multiplier (1.0 = paper size; 0.125 for CPU tests).
    depth_tasks: task names whose head outputs non-negative depth.
    depth_activation: "softplus", "relu" or "inverse" (see layers.py).
  """

  def __init__(self, tasks: Optional[Mapping[str, int]] = None,
               task_names: Optional[Sequence[str]] = None,
               output_channels: Optional[Mapping[str, int]] = None,
               form: str = "split", variant: str = "standard",
               width: float = 1.0, depth_tasks: Sequence[str] = ("depth",),
               depth_activation: str = "softplus", **kwargs):
    super().__init__(**kwargs)
    tasks = L.resolve_tasks(tasks, task_names, output_channels)
    if form not in FORMS:
      raise UserError(f"segnet form {form!r} is not one of {FORMS}")
    if variant not in VARIANTS:
      raise UserError(f"segnet variant {variant!r} is not one of {VARIANTS}")
    L.check_depth_activation(depth_activation)
    self._config = dict(tasks=tasks, form=form, variant=variant,
                        width=float(width), depth_tasks=list(depth_tasks),
                        depth_activation=depth_activation)
    # === Layers ===
    filters = L.scaled(WIDE_FILTERS if variant == "wide" else FILTERS, width)
    deep = variant == "deep"
    self.heads = {t: L.PredictionHead(filters[0], c, name=f"{t}_head")
                  for t, c in tasks.items()}
    if form == "split":
      self.trunk = SegNetTrunk(filters, deep, name="trunk")
      self._register(shared=[self.trunk],
                     per_task={t: [self.heads[t]] for t in tasks})
    else:
      self.trunks = {t: SegNetTrunk(filters, deep, name=f"{t}_trunk")
                     for t in tasks}
      self._register(shared=[], per_task={
          t: [self.trunks[t], self.heads[t]] for t in tasks})

  @property
  def has_representation(self):
    return self._config["form"] == "split"

  def _head(self, t, features):
    c = self._config
    return L.output_activation(self.heads[t](features), t, c["depth_tasks"],
                               c["depth_activation"])

  def call_split(self, inputs, training=False):
    if self._config["form"] != "split":
      return super().call_split(inputs, training)
    x = L.image_of(inputs)
    L.check_divisible(x, STRIDE, "segnet")
    features = self.trunk(x, training=training)["dec"][-1]
    return features, lambda z: {t: self._head(t, z)
                                for t in self._config["tasks"]}

  def call(self, inputs, training=False):
    if self._config["form"] == "split":
      return super().call(inputs, training=training)
    x = L.image_of(inputs)
    L.check_divisible(x, STRIDE, "segnet")
    return {t: self._head(t, self.trunks[t](x, training=training)["dec"][-1])
            for t in self._config["tasks"]}

  # === Config ===
  def get_config(self):
    config = super().get_config()
    config.update(self._config)
    return config
