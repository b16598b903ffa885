"""DB-MTL (Lin, Ye, Xu, Shi, Kwok, 2023)."""

import tensorflow as tf

from tfmtl.aggregation.base import Aggregator, state
from tfmtl.errors import UserError
from tfmtl.options import at_least, between


class DBMTL(Aggregator):
  r"""Dual-balancing MTL: log losses, then every task at the largest norm.

  Loss-scale balancing: task t contributes the gradient of log L_t,
  g_t / L_t (the rows of J divided by the losses). Gradient-magnitude
  balancing: an EMA of these per task, rescaled to the largest norm:

    ĝ_t(k) = β_k ĝ_t(k−1) + (1 − β_k) g_t / (L_t + ε),   β_k = β / k^σ
    d = Σ_t (max_s ‖ĝ_s‖ / (‖ĝ_t‖ + ε)) ĝ_t

  with k the call count (from 1), ĝ(0) = 0, ε = 1e-8. ĝ ([T, n]) and k are
  state, checkpointed. Task t's own variables get ∇ log L_t = ∇L_t / L_t
  (times its configured weight), as the log loss gives them in LibMTL.

  Output scale: like `sum` (T gradients each of the largest norm). The
  losses must be positive.

  Absent tasks (no labelled example in the step): an absent task's EMA row
  ĝ_t and its own-variable scale stay as they were; the present tasks are
  the problem, d = Σ_{t ∈ P} (max_{s ∈ P} ‖ĝ_s‖ / (‖ĝ_t‖ + ε)) ĝ_t (the
  largest norm is over the present tasks; an absent task's stale ĝ_t does
  not enter d), and α_t is logged 0. k counts every call (a global
  counter; the rate is the same for every task).

  Matches LibMTL's `LibMTL/weighting/DB_MTL.py` (β = 0.9, σ = 0 its
  defaults; its ε inside the log, log(L + ε), gives the same g/(L + ε)),
  tested against a numpy transcription. TorchJD has no DB-MTL.

  References:
    Lin, Ye, Xu, Shi, Kwok. "Dual-Balancing for Multi-Task Learning",
    arXiv:2308.12029, 2023, Algorithm 1.

  Args:
    beta: EMA rate β.
    beta_sigma: decay σ of the rate, β_k = β / k^σ.
  """

  needs = frozenset({"losses"})
  handles_absent = True  # see the docstring's absent tasks

  limits = {"beta": between(0.0, 1.0), "beta_sigma": at_least(0.0),
            "eps": at_least(0.0)}

  def __init__(self, beta: float = 0.9, beta_sigma: float = 0.0,
               eps: float = 1e-8, name="db_mtl"):
    super().__init__(name=name)
    self.beta, self.beta_sigma, self.eps = (float(beta), float(beta_sigma),
                                            float(eps))

  def build(self, tasks, num_params=None, shared_variables=None):
    super().build(tasks, num_params, shared_variables)
    if num_params is None:
      raise UserError("db_mtl keeps an EMA of J: build it with num_params")
    t = len(tasks)
    self.buffer = state(tf.zeros([t, num_params]), "db_mtl_buffer")
    self.calls = state(0, "db_mtl_calls", dtype=tf.int64)
    self.own_scale = state(tf.ones([t]), "db_mtl_own_scale")
    self.alpha = state(tf.ones([t]), "alpha")

  def __call__(self, J, losses=None, present=None, **extra):
    if losses is None:
      raise UserError("db_mtl needs the task losses: call it with losses=")
    inv = 1.0 / (tf.cast(losses, J.dtype) + self.eps)
    grads = J * inv[:, None]
    k = tf.cast(self.calls + 1, J.dtype)
    rate = self.beta / k ** self.beta_sigma
    old = tf.cast(self.buffer, J.dtype)
    buffer = grads + rate * (old - grads)
    if present is None:
      norms = tf.norm(buffer, axis=1)
      alpha = tf.reduce_max(norms) / (norms + self.eps)
    else:
      here = present[:, None]
      buffer = tf.where(here, buffer, old)
      inv = tf.where(present, inv, tf.cast(self.own_scale, J.dtype))
      norms = tf.norm(buffer, axis=1)
      top = tf.reduce_max(tf.where(present, norms, tf.zeros_like(norms)))
      alpha = tf.where(present, top / (norms + self.eps),
                       tf.zeros_like(norms))
    self.buffer.assign(buffer)
    self.calls.assign_add(1)
    self.own_scale.assign(tf.cast(inv, tf.float32))
    self.alpha.assign(tf.cast(alpha, tf.float32))
    return tf.linalg.matvec(buffer, alpha, transpose_a=True)

  def weights_for(self, J):
    """Task t's own variables get w_t ∇L_t / (L_t + ε) (∇ log L_t)."""
    return super().weights_for(J) * tf.cast(self.own_scale, J.dtype)

  def logs(self):
    return {f"alpha/{n}": self.alpha[i] for i, n in enumerate(self.task_names)}
