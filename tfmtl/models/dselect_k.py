"""DSelect-k: differentiable sparse gates (Hazimeh et al., NeurIPS 2021).

"DSelect-k: Differentiable Selection in the Mixture of Experts with
Applications to Multi-Task Learning", §3. MMoE's structure (E shared
experts, a gate and a tower per task) with each softmax gate replaced by
k differentiable selectors. With m = ⌈log₂ E⌉, expert e's binary code
b(e) ∈ {0,1}^m (most significant bit first) and the smooth step

    S(t) = 0 for t ≤ −γ/2,  1 for t ≥ γ/2,  −2t³/γ³ + 3t/(2γ) + ½ otherwise,

selector i (logits zᵢ ∈ ℝ^m) puts weight rᵢ(e) = Πⱼ S(zᵢⱼ)^{bⱼ(e)}
(1 − S(zᵢⱼ))^{1−bⱼ(e)} on expert e — a one-hot choice once every |zᵢⱼ| ≥ γ/2
— and the gate is α = Σᵢ softmax(w)ᵢ rᵢ, so at most k experts get weight.
Here z = W_z x and w = W_w x per example (the paper's per-example gating,
LibMTL's `DSelect_k`), with the official initialisation: W_z, b_z ~
U(−γ/100, γ/100), W_w, b_w ~ U(−0.05, 0.05).

Shared: the experts. Task-specific: each task's selectors (W_z, W_w) and
tower. `call_split` gives Z = the stacked expert outputs, as MMoE.

Differences from the official code (google-research/dselect_k_moe) and
LibMTL, and why:
- When E is not a power of 2 some codes name no expert, so Σₑ α(e) < 1;
  the official code adds Σ 1/Σₑ rᵢ(e) to the model's losses to push mass
  back. tfmtl's train step takes only the task losses, so α is divided by
  its sum instead (same support, weights summing to 1).
- The entropy regulariser (official: optional, off by default; LibMTL:
  1e-6 · entropy backpropagated inside forward) is not applied, for the
  same reason.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from tfmtl.errors import UserError
from tfmtl.models import moe


def smooth_step(t, gamma: float = 1.0):
  """The cubic smooth step S(t) of the paper (Eq. 1)."""
  cubic = -2.0 / gamma ** 3 * t ** 3 + 3.0 / (2.0 * gamma) * t + 0.5
  return tf.where(t <= -gamma / 2, tf.zeros_like(t),
                  tf.where(t >= gamma / 2, tf.ones_like(t), cubic))


def binary_codes(num_experts: int) -> np.ndarray:
  """[E, m] bool, row e = e in binary, most significant bit first."""
  m = max(1, math.ceil(math.log2(num_experts)))
  return np.array([[c == "1" for c in np.binary_repr(e, width=m)]
                   for e in range(num_experts)], bool)


def expert_weights(z_logits, w_logits, codes, gamma: float = 1.0):
  """α [B, E] from z_logits [B, k, m], w_logits [B, k] and codes [E, m]."""
  s = smooth_step(z_logits, gamma)[:, :, None, :]           # [B, k, 1, m]
  r = tf.reduce_prod(tf.where(codes[None, None], s, 1.0 - s), axis=-1)
  alpha = tf.einsum("bk,bke->be", tf.nn.softmax(w_logits, axis=-1), r)
  if codes.shape[0] != 2 ** codes.shape[1]:  # renormalise (see docstring)
    alpha = tf.math.divide_no_nan(alpha,
                                  tf.reduce_sum(alpha, -1, keepdims=True))
  return alpha


class DSelectKGate(keras.layers.Layer):
  """Per-example DSelect-k gate: flat input [B, D] → weights α [B, E].

  Args:
    num_experts: E.
    num_nonzeros: k, the number of selectors.
    gamma: γ of the smooth step.
    seed: initialiser seed.
  """

  def __init__(self, num_experts: int, num_nonzeros: int, gamma: float = 1.0,
               seed: int = 0, **kwargs):
    super().__init__(**kwargs)
    self.num_experts, self.num_nonzeros = int(num_experts), int(num_nonzeros)
    self.gamma, self.seed = float(gamma), int(seed)
    self.codes = binary_codes(self.num_experts)
    m = self.codes.shape[1]
    z_init = lambda s: keras.initializers.RandomUniform(  # noqa: E731
        -self.gamma / 100, self.gamma / 100, seed=s)
    w_init = lambda s: keras.initializers.RandomUniform(  # noqa: E731
        -0.05, 0.05, seed=s)
    self.z = keras.layers.Dense(self.num_nonzeros * m, name="z_logits",
                                kernel_initializer=z_init(seed),
                                bias_initializer=z_init(seed + 1))
    # With one selector the softmax over its logit is 1 whatever the
    # weights: a Dense there would be a trainable variable nothing trains.
    self.w = (keras.layers.Dense(self.num_nonzeros, name="w_logits",
                                 kernel_initializer=w_init(seed + 2),
                                 bias_initializer=w_init(seed + 3))
              if self.num_nonzeros > 1 else None)

  def build(self, input_shape):
    self.z.build(input_shape)
    if self.w is not None:
      self.w.build(input_shape)
    self.built = True

  def call(self, x):
    m = self.codes.shape[1]
    z = tf.reshape(self.z(x), [-1, self.num_nonzeros, m])
    w = (self.w(x) if self.w is not None
         else tf.zeros([tf.shape(x)[0], 1], z.dtype))
    return expert_weights(z, w, tf.constant(self.codes), self.gamma)

  def get_config(self):
    return {**super().get_config(), "num_experts": self.num_experts,
            "num_nonzeros": self.num_nonzeros, "gamma": self.gamma,
            "seed": self.seed}


class DSelectK(moe.MoEModel):
  """MMoE with DSelect-k gates.

  Args:
    num_experts: E shared experts.
    num_nonzeros: k selectors per task gate (at most k experts used).
    gamma: γ of the smooth step.
    **kwargs: see `moe.MoEModel`.
  """

  def __init__(self, num_experts: int = 4, num_nonzeros: int = 2,
               gamma: float = 1.0, **kwargs):
    super().__init__(**kwargs)
    if not 1 <= int(num_nonzeros) <= int(num_experts):
      raise UserError(f"dselect_k: num_nonzeros={num_nonzeros} must be in "
                      f"1..num_experts={num_experts}")
    self._config.update(dict(num_experts=int(num_experts),
                             num_nonzeros=int(num_nonzeros),
                             gamma=float(gamma)))
    # === Layers ===
    self.experts = [self._make_expert(f"expert{e}")
                    for e in range(num_experts)]
    self.gates = {t: DSelectKGate(num_experts, num_nonzeros, gamma,
                                  seed=self._next_seed() * 4,
                                  name=f"{t}_gate")
                  for t in self.tasks_}
    self._register(shared=self.experts, per_task={
        t: [self.gates[t]] + self.towers[t] for t in self.tasks_})

  def call_split(self, inputs, training=False):
    return self.mixture_split(inputs)
