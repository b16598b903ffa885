"""GradNorm (Chen, Badrinarayanan, Lee, Rabinovich, ICML 2018)."""

import tensorflow as tf

from tfmtl.weighting.base import (Weighting, keep, masked_mean,
                                  renormalise_present, state)
from tfmtl.options import above, at_least, one_of


class GradNorm(Weighting):
  r"""Learns task weights so that weighted-task gradient norms train at a rate.

  With W the last shared layer, G_t = ‖∇_W w_t L_t‖ = w_t ‖∇_W L_t‖,
  Ḡ = mean_t G_t, L̃_t = L_t / L_t(0) and r_t = L̃_t / mean_j L̃_j:

    L_grad = Σ_t | G_t − Ḡ · r_t^α |       (the target is held constant)
    w ← optimizer step on ∂L_grad/∂w_t = sign(G_t − target_t) · ‖∇_W L_t‖
    w ← T · w / Σ_t w_t                    (renormalise after every step)

  Because G_t is linear in w_t, the derivative is exact without the double
  backward pass of the reference code. The weights have their own optimizer
  (Adam by default, as seed 003 and the paper), separate from the model's.
  Weights are floored at `min_weight` before renormalising so a large step
  cannot flip a sign. L_t(0) are the losses of the first step.

  LibMTL (weighting/GradNorm.py) differs by design, with the same L_grad
  and the same ∂L_grad/∂w (tested): it learns logits s with w = T·softmax(s)
  (the step on s passes through the softmax's Jacobian, so after a step of
  the same size the weights differ, sometimes in direction), uses equal
  weights and no update during epoch 0 with L_t(0) the epoch-0 mean loss,
  takes ‖∇L_t‖ over all shared parameters, and steps s with the model's
  optimizer. We follow the paper: w itself, renormalised to Σw = T, from
  the first step, on the last shared layer W, with its own optimizer.

  Absent tasks (no labelled example in a step, `present`): the update is
  GradNorm's step on the P-task problem of the present tasks (Ḡ and the
  mean of L̃ over them), and their renormalised weights keep the total they
  had, so Σw stays T and an absent task's weight is unchanged. An absent
  task's L_t(0) (set at its first present step), Adam moments and Adam
  step count (one per task, so its bias correction counts its own
  updates) stay as they are.

  References:
    Chen et al. "GradNorm: Gradient Normalization for Adaptive Loss Balancing
    in Deep Multitask Networks", ICML 2018, eqs. (1)-(2) and Algorithm 1.

  Args:
    alpha: restoring-force strength α (0.12 on the paper's toy, 1.5 on NYUv2).
    lr: learning rate of the weights' optimizer.
    optimizer: "adam" or "sgd".
    min_weight: floor applied before renormalising.
  """

  needs = frozenset({"grad_norms"})
  handles_absent = True

  limits = {"alpha": at_least(0.0), "lr": above(0.0),
            "optimizer": one_of("adam", "sgd"), "min_weight": at_least(0.0)}

  def __init__(self, alpha: float = 1.5, lr: float = 1e-3,
               optimizer: str = "adam", min_weight: float = 1e-4,
               name="gradnorm"):
    super().__init__(name=name)
    self.alpha, self.lr, self.optimizer = alpha, lr, optimizer
    self.min_weight = min_weight

  def build(self, tasks):
    super().build(tasks)
    t = self.num_tasks
    self.w = state(tf.ones([t]), "weights")
    self.initial_losses = state(tf.ones([t]), "initial_losses")
    self.initialised = state(tf.zeros([t], tf.bool), "initialised",
                             dtype=tf.bool)
    self.m = state(tf.zeros([t]), "adam_m")
    self.v = state(tf.zeros([t]), "adam_v")
    self.count = state(tf.zeros([t]), "adam_count")

  def __call__(self, losses, step, present=None):
    del step, present  # the step zeroes an absent task's weight
    return tf.cast(tf.identity(self.w), losses.dtype)

  def update(self, losses, step, grad_norms=None, kpis=None, present=None):
    del step, kpis
    losses = tf.cast(losses, tf.float32)
    l0 = tf.where(self.initialised, self.initial_losses, losses)
    self.initial_losses.assign(keep(present, l0, self.initial_losses))
    self.initialised.assign(keep(present, tf.ones_like(self.initialised),
                                 self.initialised))
    norms = tf.cast(grad_norms, tf.float32)
    g = self.w * norms
    ratio = losses / l0
    r = ratio / masked_mean(ratio, present)
    target = tf.stop_gradient(masked_mean(g, present) *
                              tf.pow(r, self.alpha))
    grad = tf.sign(g - target) * norms
    old = tf.identity(self.w)
    self.w.assign(keep(present, self._step(grad, present), old))
    w = tf.maximum(self.w, self.min_weight)
    self.w.assign(renormalise_present(w, old, present, self.num_tasks))

  def _step(self, grad, present=None):
    if self.optimizer == "sgd":
      return self.w - self.lr * grad
    b1, b2, eps = 0.9, 0.999, 1e-8
    self.count.assign(keep(present, self.count + 1.0, self.count))
    self.m.assign(keep(present, b1 * self.m + (1 - b1) * grad, self.m))
    self.v.assign(keep(present, b2 * self.v + (1 - b2) * tf.square(grad),
                       self.v))
    m_hat = self.m / (1 - tf.pow(b1, self.count))
    v_hat = self.v / (1 - tf.pow(b2, self.count))
    return self.w - self.lr * m_hat / (tf.sqrt(v_hat) + eps)
