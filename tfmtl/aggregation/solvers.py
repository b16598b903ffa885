"""Small TensorFlow solvers shared by the gradient-aggregation methods.

The papers solve their T×T sub-problems with external solvers (scipy, cvxpy,
quadprog). These run inside tf.function, under XLA and in `strategy.run`:
static shapes, fixed iteration counts, no Python control flow on tensor
values. T (the number of tasks) is static.

- `qp`: min ½ wᵀQw + cᵀw  s.t. w ≥ l (and Σw = 1 when `simplex`). For
  T ≤ MAX_EXACT_TASKS it is solved *exactly* by active-set enumeration: the
  KKT system of every free set is solved at once and the feasible candidate
  with the least objective is the optimum (the optimum's own free set is
  among the candidates, and every other feasible candidate is a feasible
  point, so it cannot be lower). Error: float32 round-off of a (T+1)×(T+1)
  solve plus a ridge of 1e-6·mean(diag Q) added to Q (|Δw| ~ 1e-6 relative on
  well-conditioned Q; tests check KKT conditions to 1e-4). Larger T falls back
  to `iters` steps of FISTA (accelerated projected gradient), whose objective
  gap after k steps is ≤ 2·L·‖w₀ − w*‖² / (k+1)² with L = trace(Q).
- `min_norm_weights`: the min-norm point of the convex hull of J's rows
  (MGDA's sub-problem) via `qp` on the Gramian.
- `project_simplex`: Euclidean projection onto the probability simplex.
- `nash_weights`: the Nash bargaining solution G α = 1/α by damped Newton
  on the cosine matrix (diagonal scaling leaves the solution's form).
- `golden_section`: minimum of a unimodal scalar function, fixed iterations.
- `GramianWeighted`: base of the aggregators d = Jᵀw with w from J Jᵀ.

All of them compile under XLA (checked on CPU for every aggregator).
"""

import itertools

import numpy as np
import tensorflow as tf

from tfmtl.aggregation import absent
from tfmtl.aggregation.base import Aggregator, state
from tfmtl.options import Option, above

MAX_EXACT_TASKS = 10
_RIDGE = 1e-6
_TINY = 1e-20


def finite(x):
  """x with non-finite entries 0 (a solver must not see NaN)."""
  return tf.where(tf.math.is_finite(x), x, tf.zeros_like(x))


def gramian(J):
  """G = J Jᵀ, [T, T]."""
  return tf.matmul(J, J, transpose_b=True)


def normalise(G):
  """G / s with s = mean(diag G) (1 when G = 0), and s.

  Every solver's weights are invariant to (or scale by 1/√s under) this, and
  it keeps the ridge and tolerances relative.
  """
  s = tf.linalg.trace(G) / tf.cast(tf.shape(G)[0], G.dtype)
  s = tf.where(s > _TINY, s, tf.ones_like(s))
  return G / s, s


def project_simplex(v):
  """Projects the rows of v [..., T] onto {w ≥ 0, Σw = 1} (sort-based)."""
  t = v.shape[-1]
  u = tf.sort(v, axis=-1, direction="DESCENDING")
  css = tf.cumsum(u, axis=-1) - 1.0
  k = tf.range(1, t + 1, dtype=v.dtype)
  # At least 1: with huge entries float32 rounds u₁ − (u₁ − 1) to 0.
  rho = tf.maximum(tf.reduce_sum(tf.cast(u - css / k > 0, tf.int32),
                                 axis=-1, keepdims=True), 1)
  theta = (tf.gather(css, rho - 1, batch_dims=len(v.shape) - 1) /
           tf.cast(rho, v.dtype))
  return tf.maximum(v - theta, 0.0)


def _free_sets(t, simplex):
  sets = list(itertools.product([0.0, 1.0], repeat=t))
  if simplex:  # the all-fixed set cannot meet Σw = 1 with l = 0
    sets = [s for s in sets if any(s)]
  return np.array(sets, np.float32)


def _qp_exact(Q, c, lower, simplex, tol):
  t = Q.shape[-1]
  free = tf.constant(_free_sets(t, simplex))  # [S, T]
  eye = tf.eye(t, dtype=Q.dtype)
  ridge = _RIDGE * tf.reduce_mean(tf.linalg.diag_part(Q)) + _TINY
  qr = Q + ridge * eye
  f3 = free[:, :, None]
  # Free rows: stationarity (Qw + c − ν1)_i = 0; fixed rows: w_i = l_i.
  a = f3 * qr[None] + (1.0 - f3) * eye[None]  # [S, T, T]
  rhs = free[None] * -c[:, None, :] + (1.0 - free[None]) * lower[:, None, :]
  if simplex:
    s = free.shape[0]
    top = tf.concat([a, -f3], axis=-1)
    bottom = tf.concat([tf.ones([s, 1, t]), tf.zeros([s, 1, 1])], axis=-1)
    a = tf.concat([top, bottom], axis=1)
    rhs = tf.concat([rhs, tf.ones_like(rhs[..., :1])], axis=-1)
  b = tf.shape(c)[0]
  a = tf.broadcast_to(a[None], tf.concat([[b], tf.shape(a)], 0))
  sol = tf.linalg.solve(a, rhs[..., None])[..., 0][..., :t]  # [B, S, T]
  obj = (0.5 * tf.einsum("bsi,ij,bsj->bs", sol, Q, sol) +
         tf.einsum("bsi,bi->bs", sol, c))
  ok = tf.logical_and(
      tf.reduce_all(sol >= lower[:, None, :] - tol, axis=-1),
      tf.reduce_all(tf.math.is_finite(sol), axis=-1))
  obj = tf.where(ok, obj, tf.fill(tf.shape(obj), np.inf))
  best = tf.argmin(obj, axis=1)
  return tf.gather(sol, best, batch_dims=1)


def _qp_fista(Q, c, lower, simplex, iters):
  t = Q.shape[-1]
  step = 1.0 / (tf.linalg.trace(Q) + _TINY)  # trace ≥ λ_max for PSD Q
  if simplex:
    proj = project_simplex
    w0 = project_simplex(lower + 1.0 / t)
  else:
    def proj(v):
      return tf.maximum(v, lower)
    w0 = lower

  def body(i, w, y, k):
    grad = tf.matmul(y, Q) + c
    w_new = proj(y - step * grad)
    k_new = (1.0 + tf.sqrt(1.0 + 4.0 * k * k)) / 2.0
    y_new = w_new + ((k - 1.0) / k_new) * (w_new - w)
    return i + 1, w_new, y_new, k_new

  _, w, _, _ = tf.while_loop(lambda i, *_: i < iters, body,
                             (tf.constant(0), w0, w0, tf.constant(1.0)))
  return w


def qp(Q, c, lower, simplex=False, iters=500, tol=1e-5):
  """min ½ wᵀQw + cᵀw  s.t. w ≥ lower (and Σw = 1 if simplex), batched.

  Args:
    Q: [T, T] PSD matrix (shared by the batch), best normalised to
      mean(diag Q) ≈ 1 (see `normalise`).
    c: [B, T] linear terms.
    lower: [B, T] lower bounds.
    simplex: add the constraint Σ_i w_i = 1.
    iters: FISTA steps, only used when T > MAX_EXACT_TASKS.
    tol: feasibility tolerance of the exact solver.

  Returns:
    [B, T] minimisers.
  """
  if Q.shape[-1] <= MAX_EXACT_TASKS:
    return _qp_exact(Q, c, lower, simplex, tol)
  return _qp_fista(Q, c, lower, simplex, iters)


def min_norm_weights(G):
  """argmin_{w ∈ simplex} wᵀGw: the min-norm point of conv{g_t} is Jᵀw."""
  gn, _ = normalise(G)
  t = G.shape[-1]
  zeros = tf.zeros([1, t], G.dtype)
  return qp(gn, zeros, zeros, simplex=True)[0]


def nash_weights(G, iters=20):
  """α > 0 with G α = 1/α (element-wise), the Nash bargaining solution.

  The problem is invariant under diagonal scaling: with D = diag(G) and
  C = D^{-1/2} G D^{-1/2} (unit diagonal: the gradients' cosines),
  β = D^{1/2} α solves C β = 1/β. It is solved on C, so tasks whose
  gradients differ in norm by 10⁴ (the 2-D toy's valley: a Gramian of
  condition 10⁹) cost nothing in accuracy; C's condition comes only from
  near-collinear gradients. β is the minimiser of the self-concordant
  f(β) = ½βᵀCβ − Σ log β_i, found by damped Newton β ← β − Δ/(1 + λ),
  λ² = ∇fᵀΔ the Newton decrement, which never leaves β > 0 and converges
  quadratically once λ < 1/4. Started from β = 1 (the exact answer for
  orthogonal gradients), 20 steps reach ‖Cβ − 1/β‖ / ‖1/β‖ < 1e-5 on the
  tests' problems. A ridge of 1e-6 is added to C. When no solution exists
  (C singular with a positive null vector: Pareto-stationary), β grows along
  it for the fixed steps. A zero gradient gets α = 0 (its task has no say).
  """
  t = G.shape[-1]
  diag = tf.maximum(tf.linalg.diag_part(G), 0.0)
  scale = tf.sqrt(diag)
  nonzero = diag > _TINY * tf.reduce_max(diag) + _TINY
  inv = tf.where(nonzero, 1.0 / tf.where(nonzero, scale, 1.0), 0.0)
  eye = tf.eye(t, dtype=G.dtype)
  c = G * inv[:, None] * inv[None, :]
  # Zero-gradient tasks: a unit, uncoupled row (β = 1, then α = 0).
  keep = tf.cast(nonzero, G.dtype)
  c = c * keep[:, None] * keep[None, :] + tf.linalg.diag(1.0 - keep)
  c = c + _RIDGE * eye

  def body(i, beta):
    grad = tf.linalg.matvec(c, beta) - 1.0 / beta
    hess = c + tf.linalg.diag(1.0 / tf.square(beta))
    delta = tf.linalg.solve(hess, grad[:, None])[:, 0]
    lam = tf.sqrt(tf.maximum(tf.reduce_sum(grad * delta), 0.0))
    return i + 1, beta - delta / (1.0 + lam)

  _, beta = tf.while_loop(lambda i, _: i < iters, body,
                          (tf.constant(0), tf.ones([t], G.dtype)))
  return beta * inv


def golden_section(fn, lo, hi, iters=40):
  """argmin of a unimodal scalar fn on [lo, hi]: one evaluation a step.

  The bracket shrinks by 0.618 a step: 40 steps leave 4e-9 of it.
  """
  r = (np.sqrt(5.0) - 1.0) / 2.0
  x1, x2 = hi - r * (hi - lo), lo + r * (hi - lo)

  def body(i, a, b, x1, x2, f1, f2):
    left = f1 < f2
    a, b = tf.where(left, a, x1), tf.where(left, x2, b)
    x_new = tf.where(left, b - r * (b - a), a + r * (b - a))
    f_new = fn(x_new)
    x1, f1, x2, f2 = (tf.where(left, x_new, x2), tf.where(left, f_new, f2),
                      tf.where(left, x1, x_new), tf.where(left, f1, f_new))
    return i + 1, a, b, x1, x2, f1, f2

  _, a, b, _, _, _, _ = tf.while_loop(
      lambda i, *_: i < iters, body,
      (tf.constant(0), lo, hi, x1, x2, fn(x1), fn(x2)))
  return (a + b) / 2.0


class GramianWeighted(Aggregator):
  """An aggregator d = Jᵀw whose weights w come from the Gramian J Jᵀ.

  Subclasses implement `task_combination(G, J, **extra) -> w` [T]. When
  built, the last weights are kept in a state variable and reported by
  `logs()` as `alpha/<task>`; they are computed from the global J, so every
  replica writes the same value. With absent tasks (`present=`) the
  weights are those of the present tasks' sub-Gramian, 0 for the absent
  (absent.py); a subclass with per-task state overrides
  `weights_from_gramian`.

  `gramian_mode=True` (a shared option) never holds J: the step forms the
  Gramian block by block (tfmtl/engine/gradients.py `gramian_level`), the
  method solves on it, and one backward pass of Σ_t w_t L_t gives the
  shared update (equal to the J path to float32 round-off).

  Every such method takes `rep_grad=True` (a shared option): the step then
  weighs by the Gramian of the gradients w.r.t. the shared representation
  and makes one backward pass of Σ_t w_t ∇_Z L_t through the shared layers
  (LibMTL's `rep_grad`; the machinery of `mgda_ub`, which is `mgda` there).
  Costs about one backward of the network whatever T is; needs a model with
  a shared representation (any functional model whose heads read a shared
  trunk, or an explicit `TaskSplit(representation=...)`).
  """

  handles_absent = True
  # A non-finite J reaches only the T×T Gramian, cleaned here; the update
  # Jᵀw is then non-finite and the step skipped. The step need not copy J.
  needs_finite_j = False
  shared_options = {
      "rep_grad": Option(
          "rep_grad", bool, False, None,
          "weigh by the Gramian of the gradients w.r.t. the shared "
          "representation and make one backward pass through the shared "
          "layers (LibMTL's rep_grad; needs a model whose heads read one "
          "shared representation)"),
      "gramian_mode": Option(
          "gramian_mode", bool, False, None,
          "form G = J Jᵀ block by block (a few shared variables at a time, "
          "`gramian_block_mib` of gradients each) without ever holding J, "
          "solve for w on it, then make one backward pass of Σ_t w_t L_t: "
          "the same update as the J path (to float32 round-off) for about "
          "one block of memory instead of T copies of the gradient, at the "
          "price of T backward passes per block"),
      "gramian_block_mib": Option(
          "gramian_block_mib", float, 256.0, above(0.0),
          "gramian_mode: MiB of task gradients (T × the block's variables) "
          "formed at a time; a variable larger than that is a block alone"),
  }
  needs_when = {"representation": lambda options: options.get("rep_grad"),
                "gramian": lambda options: options.get("gramian_mode")}

  def build(self, tasks, num_params=None, shared_variables=None):
    """As `Aggregator.build`, plus the `alpha` [T] state that records the
    last task weights (for `logs()`).
    """
    super().build(tasks, num_params, shared_variables)
    self.alpha = state(tf.zeros([len(tasks)]), "alpha")

  def task_combination(self, G, J, **extra):
    """The method's rule: task weights w [T] from the Gramian G = J Jᵀ [T, T]
    (and J [T, n] where the rule reads it; None at the representation level
    and in `gramian_mode`); the update is d = Jᵀ w. `extra` holds what the
    method declared in `needs` (the losses, the step).
    """
    raise NotImplementedError

  def weights_from_gramian(self, G, J=None, present=None, **extra):
    """w [T] from the Gramian G (and J where the method reads it), recorded
    for `logs()`. Methods on the representation get only G."""
    if present is None:
      w = self.task_combination(G, J, **extra)
    else:
      w = absent.gramian_weights(self, self.task_combination, G, J, present,
                                 extra)
    if hasattr(self, "alpha"):
      self.alpha.assign(tf.cast(w, tf.float32))
    return w

  def __call__(self, J, present=None, **extra):
    w = self.weights_from_gramian(finite(gramian(J)), J, present=present,
                                  **extra)
    return tf.linalg.matvec(J, w, transpose_a=True)

  def logs(self):
    if not hasattr(self, "alpha"):
      return {}
    return {f"alpha/{n}": self.alpha[i] for i, n in enumerate(self.task_names)}
