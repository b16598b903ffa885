r"""The pose + flow network of the PRF reference (visual odometry).

Two consecutive RGB frames stacked to 6 channels go through a shared trunk of
nine convolutions; two pose heads regress the relative translation and
rotation (Euler angles) and a FlowNet-style decoder predicts optical flow at
half resolution (DESIGN.md §2, "The pose + flow network").

    trunk:  h_k = LeakyReLU_0.1(BN(conv_k(h_{k-1})))   k = 1..8
            h_9 = BN(conv_9(h_8))                      (no activation)
    pose:   y = W_3 σ(W_2 σ(W_1 flatten(h_9)))          (trans, rot: [3])
    flow:   u_1 = σ(deconv_256(h_9)) ⊕ h_8,  u_2 = σ(deconv_128(u_1)) ⊕ h_6,
            u_3 = σ(deconv_64(u_2)) ⊕ h_4,  u_4 = σ(deconv_32(u_3)) ⊕ h_2,
            flow = deconv_2(u_4)               ([H/2, W/2, 2]; ⊕ = concat)

with 4×4 stride-2 transposed convolutions, each cropped to its skip's size so
any input size works (FlowNet crops the same way). At width 1, 128×320 input:
trunk 3.66 M trainable parameters, trunk + both pose heads 9.43 M.

References:
  Al Hasib et al., "Boosting auxiliary task guidance: a probabilistic
  approach", IAES IJ-AI 12(1), 2023; Dosovitskiy et al., "FlowNet: Learning
  Optical Flow with Convolutional Networks", ICCV 2015 (the decoder).
"""

from typing import Sequence

import keras

from tfmtl.errors import UserError
from tfmtl.models.base import MultiTaskModel

KERNELS = (7, 5, 5, 3, 3, 3, 3, 3, 3)
FILTERS = (32, 64, 128, 128, 256, 256, 256, 256, 512)
STRIDES = (2, 2, 2, 1, 2, 1, 2, 1, 2)
DECODER = (256, 128, 64, 32)
SKIPS = (7, 5, 3, 1)  # trunk outputs (0-based) concatenated after each deconv
POSE_TASKS = ("trans", "rot")


def _crop_to(x, ref):
  """x cropped to ref's spatial size (transposed convs may overshoot)."""
  h, w = ref.shape[1], ref.shape[2]
  return x[:, :h, :w, :]


class PoseFlowNet(MultiTaskModel):
  """Shared conv trunk with `trans`, `rot` pose heads and a `flow` decoder.

  Args:
    task_names: any of "trans", "rot", "flow" (the heads built).
    width: multiplier of every filter and unit count (1.0 = the reference;
      e.g. 0.125 for CPU tests).
    pose_units: hidden units of each pose head (512 in the reference).
    alpha: LeakyReLU slope.
    seed: seed of the he_normal initialisers.
    synchronized_bn: BatchNorm statistics over the global batch under a
      tf.distribute strategy (then R replicas train exactly as one device).
  """

  def __init__(self, task_names: Sequence[str] = ("flow", "rot", "trans"),
               width: float = 1.0, pose_units: int = 512, alpha: float = 0.1,
               seed: int = 0, synchronized_bn: bool = False, **kwargs):
    super().__init__(**kwargs)
    unknown = [t for t in task_names if t not in POSE_TASKS + ("flow",)]
    if unknown:
      raise UserError(f"pose_flow: unknown tasks {unknown}; it predicts "
                      "'trans', 'rot' and 'flow'")
    self._config = dict(task_names=list(task_names), width=width,
                        pose_units=pose_units, alpha=alpha, seed=seed,
                        synchronized_bn=synchronized_bn)
    seeds = iter(range(seed * 1000, seed * 1000 + 1000))

    def scaled(n):
      return max(1, int(round(n * width)))

    def init():
      return keras.initializers.HeNormal(next(seeds))

    # === Layers ===
    self.convs, self.norms = [], []
    for i, (k, f, s) in enumerate(zip(KERNELS, FILTERS, STRIDES)):
      self.convs.append(keras.layers.Conv2D(
          scaled(f), k, strides=s, padding="same", kernel_initializer=init(),
          name=f"shared_conv_{i + 1}"))
      self.norms.append(keras.layers.BatchNormalization(
          synchronized=synchronized_bn, name=f"shared_bn_{i + 1}"))
    self.act = keras.layers.LeakyReLU(negative_slope=alpha)
    heads = {}
    self.pose_heads = {}
    for name in task_names:
      if name in POSE_TASKS:
        layers = [
            keras.layers.Flatten(),
            keras.layers.Dense(scaled(pose_units), kernel_initializer=init(),
                               name=f"{name}_dense_1"),
            keras.layers.Dense(scaled(pose_units), kernel_initializer=init(),
                               name=f"{name}_dense_2"),
            keras.layers.Dense(3, kernel_initializer=init(),
                               name=f"{name}_out")]
        self.pose_heads[name] = layers
        heads[name] = layers
    self.flow_head = None
    if "flow" in task_names:
      self.flow_head = [
          keras.layers.Conv2DTranspose(
              scaled(f), 4, strides=2, padding="same",
              kernel_initializer=init(), name=f"flow_deconv_{i + 1}")
          for i, f in enumerate(DECODER)]
      self.flow_head.append(keras.layers.Conv2DTranspose(
          2, 4, strides=2, padding="same", kernel_initializer=init(),
          name="flow_out"))
      heads["flow"] = self.flow_head
    self._register(shared=self.convs + self.norms, per_task=heads)

  def trunk(self, frames, training=False):
    """The nine trunk activations h_1..h_9."""
    h, outs = frames, []
    for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
      h = norm(conv(h), training=training)
      if i < len(self.convs) - 1:
        h = self.act(h)
      outs.append(h)
    return outs

  def call_split(self, inputs, training=False):
    frames = inputs["frames"] if isinstance(inputs, dict) else inputs
    feats = self.trunk(frames, training=training)
    # What the heads read: h_9 and the flow decoder's skips h_2, h_4, h_6,
    # h_8 (h_1 only gives the flow's output size).
    used = sorted({len(feats) - 1} | (
        set(SKIPS) if self.flow_head is not None else set()))
    first = feats[0]  # only its static shape is read

    def heads(z):
      out = {}
      for name, layers in self.pose_heads.items():
        x = layers[0](z[len(feats) - 1])
        for dense in layers[1:-1]:
          x = self.act(dense(x))
        out[name] = layers[-1](x)
      if self.flow_head is not None:
        x = z[len(feats) - 1]
        for deconv, skip in zip(self.flow_head[:-1], SKIPS):
          x = _crop_to(self.act(deconv(x)), z[skip])
          x = keras.ops.concatenate([x, z[skip]], axis=-1)
        out["flow"] = _crop_to(self.flow_head[-1](x), first)
      return out
    return {i: feats[i] for i in used}, heads

  # === Config ===
  def get_config(self):
    config = super().get_config()
    config.update(self._config)
    return config
