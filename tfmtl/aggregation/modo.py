"""MoDo: multi-objective gradient with double sampling (Chen et al. 2023)."""

import tensorflow as tf

from tfmtl.aggregation import present as present_mod
from tfmtl.aggregation.multi_batch import MultiBatch
from tfmtl.aggregation.solvers import project_simplex
from tfmtl.options import at_least


class MoDo(MultiBatch):
  r"""Stochastic MGDA with the weights' update de-biased by two batches.

  Each step draws three independent batches with Jacobians J₁, J₂, J₃ of the
  shared variables and keeps task weights λ on the simplex:

    λ ← Π_Δ( λ − γ (J₁ J₂ᵀ λ + ρ λ) )        (J₁ J₂ᵀ: an unbiased Gramian)
    d = J₃ᵀ λ

  Task-specific variables get their gradient averaged over the three
  batches (times the configured task weight). Scale: λ sums to 1 (mean-like).
  The three batches are the step's (`batches_per_step = 3`: the train step
  draws them; no other method pays for it).

  Absent tasks (no labelled example in the step; a task absent from any
  of the three batches is absent for the step): an absent task's λ_t stays
  and it is left out of d. The present tasks P are the problem: with
  s = Σ_{t ∈ P} λ_t and λ̃ = λ_P / s, λ̃ ← Π_Δ(P)(λ̃ − γ(J₁J₂ᵀλ̃ + ρλ̃)) on
  their rows, d = J₃ᵀλ̃, and λ_P ← s λ̃ (Σ λ = 1 still; see present.py).

  Differences: none in the rule (LibMTL and the official code); LibMTL's
  simplex projection is a sort-based loop, ours the same projection in TF.

  References:
    Chen, Fernando, Ying, Chen. "Three-Way Trade-Off in Multi-Objective
    Learning: Optimization, Generalization and Conflict-Avoidance",
    NeurIPS 2023; LibMTL/weighting/MoDo.py.

  Args:
    gamma: λ's step size (LibMTL `MoDo_gamma`, 1e-3).
    rho: λ's ℓ2 regularisation (LibMTL `MoDo_rho`, 0.1).
  """

  # Absent tasks: see the docstring. State: λ ("lambda"), logged as
  # lambda/<task>.
  weights_attr, weights_state, log_prefix = "lambd", "lambda", "lambda"
  limits = {"gamma": at_least(0.0), "rho": at_least(0.0)}

  def __init__(self, gamma: float = 1e-3, rho: float = 0.1, name="modo"):
    super().__init__(name=name)
    self.gamma, self.rho = gamma, rho

  def __call__(self, J, jacobians=None, present=None, **extra):
    jacobians = self.batches(J, jacobians)
    lam = self.kept_weights(J)
    if present is not None:
      p = present_mod.mask(present, J.dtype)
      old, (lam, total) = lam, present_mod.split_simplex(lam, p)
    j1, j2, j3 = jacobians[0], jacobians[1], jacobians[2]
    grad = tf.linalg.matvec(j1, tf.linalg.matvec(j2, lam, transpose_a=True))
    moved = lam - self.gamma * (grad + self.rho * lam)
    if present is None:
      lam = project_simplex(moved)
      kept = lam
    else:
      lam = present_mod.project_present(moved, p)
      kept = present_mod.merge_simplex(old, lam, total, p)
    self.keep(kept)
    return tf.linalg.matvec(j3, lam, transpose_a=True)
