"""FAMO: fast adaptive multitask optimization (Liu et al., NeurIPS 2023)."""

import tensorflow as tf

from tfmtl.weighting.base import (Weighting, keep, masked_softmax, state,
                                  zero_absent)
from tfmtl.options import above, at_least


class FAMO(Weighting):
  r"""Balances the tasks' loss *decrease* rates at O(1) cost per step.

  With logits ξ [T], z = softmax(ξ), D_t = L_t − L*_t + ε (L* = `min_losses`,
  0 by default as in LibMTL) and c = Σ_t z_t / D_t, the model descends

    Σ_t (z_t / c) log D_t,   i.e. weights w_t = z_t / (c · D_t),  Σ_t w_t = 1

  (the weights are held constant for the backward pass). After the model's
  update, with D'_t the losses of the *same batch* re-evaluated at the new
  parameters, the logits take one step of their own Adam (weight decay γ
  added to the gradient, as torch's Adam does) along

    δ_t = log D_t − log D'_t,     ∇_ξ = J_softmax(ξ)ᵀ δ = z ⊙ (δ − zᵀδ).

  How the step supports "the losses after the update": the method declares
  `needs = {"losses_after"}`; only then does the train step run one more
  forward pass (training mode, as the reference re-runs the model in train
  mode under no_grad: BatchNorm statistics move twice per step) on the same
  batch after applying the gradient, all-reduces the losses and calls
  `update_after(losses)`. No other method pays for it. A skipped
  (non-finite) step rolls the logits back with the rest of the state.

  Scale: the weights sum to 1 (LibMTL and the official code alike).
  Differences: none in the rule; LibMTL updates ξ with the next call of its
  trainer loop, we in the same step.

  Absent tasks (no labelled example in a step, `present`): FAMO on the
  P-task problem of the present tasks: z is the softmax over their logits
  (Σ_present w = 1), δ and the logits' step are theirs only. An absent
  task's logit, Adam moments and Adam step count (one per task, so the
  bias correction counts the task's own updates; no weight decay either)
  and its stored loss D_t stay as they are.

  References:
    Liu, Feng, Stone, Liu. "FAMO: Fast Adaptive Multitask Optimization",
    NeurIPS 2023, Algorithm 1; LibMTL/weighting/FAMO.py.

  Args:
    lr: the logits' Adam learning rate (LibMTL `FAMO_w_lr`, 0.025).
    gamma: the logits' weight decay (LibMTL `FAMO_w_gamma`, 1e-3).
    eps: ε in D_t.
  """

  needs = frozenset({"losses_after"})
  handles_absent = True

  limits = {"lr": above(0.0), "gamma": at_least(0.0), "eps": above(0.0)}

  def __init__(self, lr: float = 0.025, gamma: float = 1e-3,
               eps: float = 1e-8, name="famo"):
    super().__init__(name=name)
    self.lr, self.gamma, self.eps = lr, gamma, eps

  def build(self, tasks):
    super().build(tasks)
    t = self.num_tasks
    self.logits = state(tf.zeros([t]), "logits")
    self.min_losses = state(tf.zeros([t]), "min_losses")
    self.previous = state(tf.ones([t]), "losses_before")
    self.m = state(tf.zeros([t]), "adam_m")
    self.v = state(tf.zeros([t]), "adam_v")
    self.count = state(tf.zeros([t]), "adam_count")

  def _gap(self, losses):
    return tf.cast(losses, tf.float32) - self.min_losses + self.eps

  def __call__(self, losses, step, present=None):
    del step
    z = masked_softmax(self.logits, present)
    d = self._gap(losses)
    c = tf.reduce_sum(zero_absent(z / d, present))
    self.previous.assign(keep(present, tf.cast(losses, tf.float32),
                              self.previous))
    return tf.cast(zero_absent(z / (c * d), present), losses.dtype)

  def update_after(self, losses_after, present=None):
    delta = zero_absent(tf.math.log(self._gap(self.previous)) - tf.math.log(
        self._gap(losses_after)), present)
    z = masked_softmax(self.logits, present)
    grad = z * (delta - tf.reduce_sum(z * delta)) + self.gamma * self.logits
    b1, b2, eps = 0.9, 0.999, 1e-8
    n = keep(present, self.count + 1.0, self.count)
    self.count.assign(n)
    self.m.assign(keep(present, b1 * self.m + (1 - b1) * grad, self.m))
    self.v.assign(keep(present, b2 * self.v + (1 - b2) * tf.square(grad),
                       self.v))
    m_hat = self.m / (1 - b1 ** n)
    v_hat = self.v / (1 - b2 ** n)
    self.logits.assign(keep(
        present, self.logits - self.lr * m_hat / (tf.sqrt(v_hat) + eps),
        self.logits))

  def logs(self):
    z = tf.nn.softmax(self.logits)
    return {f"famo_z/{n}": z[i] for i, n in enumerate(self.task_names)}
