"""MoCo (Fernando, Shen, Liu, Chaudhury, Murugesan, Chen, ICLR 2023)."""

import tensorflow as tf

from tfmtl.aggregation import present as present_mod
from tfmtl.aggregation.base import Aggregator, state
from tfmtl.errors import UserError
from tfmtl.options import at_least


class MoCo(Aggregator):
  r"""Multi-objective gradient correction: tracked gradients, smoothed λ.

  MoCo tracks each task's gradient with a running estimate y_t (reducing
  the bias of stochastic MGDA) and moves the task weights λ by a projected
  gradient step on ½‖Yᵀλ‖² (+ ρ/2 ‖λ‖²). As LibMTL (from the authors'
  code), with k the call count from 1 and the simplex projection replaced by
  a softmax:

    ĝ_t = L_t · g_t / (‖g_t‖ + ε)
    y_t ← y_t − (β / k^βσ) (y_t − ĝ_t)
    λ  ← softmax(λ − (γ / k^γσ) (Y Yᵀ + ρ I) λ)
    d  = Σ_t λ_t y_t

  y ([T, n], zero at the start), λ (1/T at the start) and k are state,
  checkpointed. ε = 1e-8. Task t's own variables get its configured
  weight times ∇L_t (LibMTL: ∇L_t).

  Output scale: λ lies on the simplex, like `mean`; the loss factor L_t
  in ĝ_t makes d scale with the losses, not with ‖g_t‖.

  Absent tasks (no labelled example in the step): an absent task's y_t
  and λ_t stay as they were and it is left out of d. The present tasks P
  are the problem: with s = Σ_{t ∈ P} λ_t and λ̃ = λ_P / s (their weights
  on their own simplex), λ̃ takes the step above with Y_P and a softmax
  over P, d = Σ_{t ∈ P} λ̃_t y_t, and λ_P ← s λ̃ (so Σ λ = 1 still; see
  present.py). k counts every call.

  Matches LibMTL's `LibMTL/weighting/MoCo.py` (β = 0.5, βσ = 0.5, γ = 0.1,
  γσ = 0.5, ρ = 0 its defaults), tested against a numpy transcription. The
  paper's λ step is a Euclidean projection onto the simplex (Algorithm 1,
  line 6); LibMTL's softmax is kept here, as the reference runs use it.
  TorchJD's main branch has no MoCo.

  References:
    Fernando, Shen, Liu, Chaudhury, Murugesan, Chen. "Mitigating Gradient
    Bias in Multi-objective Learning: A Provably Convergent Approach", ICLR
    2023, Algorithm 1.

  Args:
    beta, beta_sigma: step size of y and its decay.
    gamma, gamma_sigma: step size of λ and its decay.
    rho: ℓ2 regularisation of λ's step.
  """

  needs = frozenset({"losses"})
  handles_absent = True  # see the docstring's absent tasks

  limits = {"beta": at_least(0.0), "beta_sigma": at_least(0.0),
            "gamma": at_least(0.0), "gamma_sigma": at_least(0.0),
            "rho": at_least(0.0), "eps": at_least(0.0)}

  def __init__(self, beta: float = 0.5, beta_sigma: float = 0.5,
               gamma: float = 0.1, gamma_sigma: float = 0.5,
               rho: float = 0.0, eps: float = 1e-8, name="moco"):
    super().__init__(name=name)
    self.beta, self.beta_sigma = float(beta), float(beta_sigma)
    self.gamma, self.gamma_sigma = float(gamma), float(gamma_sigma)
    self.rho, self.eps = float(rho), float(eps)

  def build(self, tasks, num_params=None, shared_variables=None):
    super().build(tasks, num_params, shared_variables)
    if num_params is None:
      raise UserError("moco tracks J: build it with num_params")
    t = len(tasks)
    self.y = state(tf.zeros([t, num_params]), "moco_y")
    self.lambd = state(tf.fill([t], 1.0 / t), "moco_lambda")
    self.calls = state(0, "moco_calls", dtype=tf.int64)

  def __call__(self, J, losses=None, present=None, **extra):
    if losses is None:
      raise UserError("moco needs the task losses: call it with losses=")
    t = J.shape[0]
    losses = tf.cast(losses, J.dtype)
    g = J / (tf.norm(J, axis=1, keepdims=True) + self.eps) * losses[:, None]
    k = tf.cast(self.calls + 1, J.dtype)
    y = tf.cast(self.y, J.dtype)
    old_y = y
    y = y - (self.beta / k ** self.beta_sigma) * (y - g)
    lambd = tf.cast(self.lambd, J.dtype)
    if present is not None:
      p = present_mod.mask(present, J.dtype)
      y = tf.where(present[:, None], y, old_y)
      old_lambd = lambd
      lambd, total = present_mod.split_simplex(lambd, p)
    m = tf.matmul(y, y, transpose_b=True) + self.rho * tf.eye(t, dtype=J.dtype)
    logits = (lambd - (self.gamma / k ** self.gamma_sigma) *
              tf.linalg.matvec(m, lambd))
    if present is None:
      lambd = tf.nn.softmax(logits)
    else:  # softmax over the present tasks
      lambd = tf.nn.softmax(tf.where(present, logits, -1e30)) * p
      self.lambd.assign(tf.cast(
          present_mod.merge_simplex(old_lambd, lambd, total, p),
          self.lambd.dtype))
      self.y.assign(y)
      self.calls.assign_add(1)
      return tf.linalg.matvec(y, lambd, transpose_a=True)
    self.y.assign(y)
    self.lambd.assign(lambd)
    self.calls.assign_add(1)
    return tf.linalg.matvec(y, lambd, transpose_a=True)

  def logs(self):
    return {f"alpha/{n}": self.lambd[i]
            for i, n in enumerate(self.task_names)}
