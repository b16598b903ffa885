r"""The 2-D two-task toy of CAGrad (Liu et al. 2021) and Nash-MTL (Navon et al. 2022).

Both task losses are functions of the same two parameters x = (x₁, x₂), so the
"shared variables" are x itself and J is the 2×2 Jacobian [∇L₁; ∇L₂]. With
LOWER = 5e-6:

  f₁ = log max(|0.5(−x₁−7) − tanh(−x₂)|, LOWER) + 6
  f₂ = log max(|0.5(−x₁+3) + tanh(−x₂) + 2|, LOWER) + 6
  c₁ = max(tanh(0.5 x₂), 0),   c₂ = max(tanh(−0.5 x₂), 0)
  q₁ = ((7−x₁)² + 0.1(x₂+8)²)/10 − 20,   q₂ = ((x₁+7)² + 0.1(x₂+8)²)/10 − 20
  L₁ = 0.1·(c₁f₁ + c₂q₁),   L₂ = c₁f₂ + c₂q₂

(the 0.1 on L₁ is Nash-MTL's scaling, `experiments/toy/problem.py` of
AvivNavon/nash-mtl). The Pareto set is x₂ ≈ −8.3552, x₁ ∈ [−7, 7]. The
papers start from the five points `STARTS` and run Adam (lr 1e-3) for 35,000
iterations.

`run` trains x from every start with any registered method, each start in
one compiled `tf.while_loop`. A gradient-level method gets J (and the losses
/ the step when it `needs` them); a loss-level method's weights w give the
update Σ_t w_t ∇L_t (plus its regulariser, its trainable variables moving
with x under the same Adam); "grad_norms" are ‖∇_x L_t‖ (x is the only
shared layer). Methods that need per-sample variance or KPIs have no meaning
here and are refused.
"""

from typing import Dict, Sequence

import numpy as np
import tensorflow as tf

from tfmtl import methods
from tfmtl.aggregation.base import Aggregator
from tfmtl.errors import UserError
from tfmtl.tasks import Task

LOWER = 5e-6
STARTS = ((-8.5, 7.5), (0.0, 0.0), (9.0, 9.0), (-7.5, -0.5), (9.0, -1.0))
PARETO_X2 = -8.3552  # the Pareto set: x₂ = PARETO_X2, −7 ≤ x₁ ≤ 7
TASKS = ("L1", "L2")


def losses(x):
  """[L₁, L₂] at x [..., 2] (float32 or float64), shape [..., 2]."""
  x1, x2 = x[..., 0], x[..., 1]
  f1 = tf.math.log(tf.maximum(tf.abs(0.5 * (-x1 - 7.0) - tf.tanh(-x2)),
                              LOWER)) + 6.0
  f2 = tf.math.log(tf.maximum(
      tf.abs(0.5 * (-x1 + 3.0) + tf.tanh(-x2) + 2.0), LOWER)) + 6.0
  c1 = tf.maximum(tf.tanh(0.5 * x2), 0.0)
  c2 = tf.maximum(tf.tanh(-0.5 * x2), 0.0)
  q1 = ((7.0 - x1) ** 2 + 0.1 * (x2 + 8.0) ** 2) / 10.0 - 20.0
  q2 = ((x1 + 7.0) ** 2 + 0.1 * (x2 + 8.0) ** 2) / 10.0 - 20.0
  return tf.stack([0.1 * (c1 * f1 + c2 * q1), c1 * f2 + c2 * q2], axis=-1)


def jacobian(x):
  """(losses [2], J [2, 2]) at x [2]: row t is ∇_x L_t."""
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    ls = losses(x)
    l1, l2 = ls[0], ls[1]
  J = tf.stack([tape.gradient(l1, x), tape.gradient(l2, x)])
  del tape
  return ls, J


def _build(name, kwargs):
  method = methods.get(name, **kwargs)
  if {"variance", "kpis"} & set(method.needs):
    raise UserError(f"toy2d: {name} needs per-sample variance or KPIs, which "
                    "the 2-D toy does not have; pick another method")
  tasks = [Task(n, lambda y, p: p) for n in TASKS]
  x = tf.Variable(tf.zeros([2]), name="x")
  if isinstance(method, Aggregator):
    method.build(tasks, num_params=2, shared_variables=[x])
  else:
    method.build(tasks)
  return method, x


def _direction(method, x, step):
  """The update direction for x (and the method's trainable variables)."""
  trainable = list(method.trainable_variables)
  if isinstance(method, Aggregator):
    ls, J = jacobian(x.read_value())
    extra = {"losses": ls, "step": step}
    if "representation" in method.needs:
      w = method.weights_from_gramian(tf.matmul(J, J, transpose_b=True),
                                      **{k: extra[k] for k in method.needs
                                         if k in extra})
      d = tf.linalg.matvec(J, w, transpose_a=True)
    else:
      d = method(J, **{k: extra[k] for k in method.needs if k in extra})
    return ls, [d]
  with tf.GradientTape(persistent=True) as tape:
    ls = losses(x)
    w = method(tf.stop_gradient(ls), step)
    total = tf.reduce_sum(w * ls) + method.regularizer()
    l1, l2 = ls[0], ls[1]
  grads = tape.gradient(total, [x] + trainable)
  stats = {}
  if "grad_norms" in method.needs:
    stats["grad_norms"] = tf.stack([tf.norm(tape.gradient(l1, x)),
                                    tf.norm(tape.gradient(l2, x))])
  del tape
  method.update(tf.stop_gradient(ls), step, **stats)
  return ls, [tf.zeros_like(v) if g is None else g
              for g, v in zip(grads, [x] + trainable)]


def run(name: str, iterations: int = 35000, starts: Sequence = STARTS,
        lr: float = 1e-3, every: int = 1, jit_compile: bool = False,
        **kwargs) -> Dict[str, np.ndarray]:
  """Trains x from each start with method `name` (built with `kwargs`).

  Adam as torch.optim.Adam (β = (0.9, 0.999), ε = 1e-8), each start from the
  freshly built method's state, in one compiled `tf.while_loop` (one trace
  for all starts).

  Args:
    name: a registered method.
    iterations: Adam steps per start.
    starts: [S, 2] start points.
    lr: Adam's learning rate.
    every: keep every `every`-th point of the trajectories.
    jit_compile: compile each start's loop with XLA.
    **kwargs: the method's constructor arguments.

  Returns:
    {"x": [S, K, 2] parameters, "losses": [S, K, 2]}, K = (iterations − 1)
    // every + 2 (the start first, the end last).
  """
  if iterations < 1 or every < 1:
    raise UserError("toy2d: iterations and every must be >= 1")
  method, x = _build(name, kwargs)
  loop = _compiled_loop(method, x, iterations, lr, every, jit_compile)
  xs, ls = [], []
  for start in starts:
    p, pl = loop(tf.constant(start, tf.float32))
    xs.append(p.numpy())
    ls.append(pl.numpy())
  return {"x": np.stack(xs), "losses": np.stack(ls)}


def _compiled_loop(method, x, iterations, lr, every, jit_compile):
  """start [2] -> (path [K, 2], losses [K, 2]) of one run, one tf.function
  for all starts (each begins from the method's state as built)."""
  variables = [x] + list(method.trainable_variables)
  m = [tf.Variable(tf.zeros_like(v)) for v in variables]
  v2 = [tf.Variable(tf.zeros_like(v)) for v in variables]
  # Every start begins from the freshly built method's state.
  fresh = [(v, tf.identity(v)) for v in list(method.variables) + m + v2]
  n_keep = (iterations - 1) // every + 2

  def body(i, path, path_l):
    keep = tf.equal(i % every, 0)
    k = tf.where(keep, i // every, n_keep - 1)  # the last slot is rewritten
    cur = x.read_value()
    path = path.write(k, cur)
    path_l = path_l.write(k, losses(cur))
    _, grads = _direction(method, x, tf.cast(i, tf.int64))
    _adam_step(variables, grads, m, v2, lr, tf.cast(i + 1, tf.float32))
    return i + 1, path, path_l

  @tf.function(jit_compile=jit_compile)
  def loop(start):
    for var, value in fresh:
      var.assign(value)
    x.assign(start)
    path = tf.TensorArray(tf.float32, n_keep, clear_after_read=False)
    path_l = tf.TensorArray(tf.float32, n_keep, clear_after_read=False)
    _, path, path_l = tf.while_loop(lambda i, *_: i < iterations, body,
                                    (tf.constant(0), path, path_l))
    end = x.read_value()
    path = path.write(n_keep - 1, end)
    path_l = path_l.write(n_keep - 1, losses(end))
    return path.stack(), path_l.stack()

  return loop


def _adam_step(variables, grads, m, v2, lr, t):
  """torch.optim.Adam's update of step t (from 1) with moments m, v2."""
  for var, g, mv, vv in zip(variables, grads, m, v2):
    mv.assign(0.9 * mv + 0.1 * g)
    vv.assign(0.999 * vv + 0.001 * tf.square(g))
    mhat = mv / (1.0 - 0.9 ** t)
    vhat = vv / (1.0 - 0.999 ** t)
    var.assign_sub(lr * mhat / (tf.sqrt(vhat) + 1e-8))


def pareto_front(num: int = 200) -> np.ndarray:
  """[num, 2] loss values along the Pareto set (x₂ = PARETO_X2)."""
  x1 = np.linspace(-7.0, 7.0, num, dtype=np.float32)
  x = np.stack([x1, np.full_like(x1, PARETO_X2)], -1)
  return losses(tf.constant(x)).numpy()
