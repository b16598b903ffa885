"""Helpers for stateful aggregators that leave absent tasks out themselves.

A method with per-task state (`handles_absent = True`, see absent.py) gets
`present` [T] bool and must treat the present tasks as the whole problem
while every state entry of an absent task stays as it was. Weights kept on
the simplex (MoCo's λ, MoDo's λ, SDMGrad's w) are split in two: the present
entries, rescaled to sum to 1, are the sub-problem's weights; after the
update they are scaled back to the total they had, so the absent entries
(unchanged) and the present ones still sum to 1:

    s = Σ_{t ∈ P} λ_t,   λ̃ = λ_P / s   (uniform on P when s = 0)
    λ̃ ← the method's update on the tasks of P
    λ_P ← s λ̃,           λ_t unchanged for t ∉ P
"""

import tensorflow as tf

from tfmtl.aggregation.solvers import project_simplex

# An absent entry before a projection onto the present tasks' simplex: far
# below every present one, so it ends at 0 and leaves their threshold alone.
_FAR = -1e30


def mask(present, dtype) -> tf.Tensor:
  """present [T] bool -> [T] 1.0 / 0.0 of `dtype`."""
  return tf.cast(present, dtype)


def split_simplex(lam, p):
  """(λ̃, s): the present part of λ rescaled to the simplex, and its total.

  p: [T] 1/0 mask. λ̃ is 0 on absent tasks; uniform on the present ones
  when their total is 0 (or nothing when none is present). When every task
  is present, s = 1 and λ̃ = λ exactly (no round-off from the division).
  """
  s = tf.where(tf.reduce_all(p > 0.0), tf.ones([], lam.dtype),
               tf.reduce_sum(lam * p))
  count = tf.maximum(tf.reduce_sum(p), 1.0)
  sub = tf.where(s > 0.0, lam * p / tf.where(s > 0.0, s, 1.0), p / count)
  return sub, s


def merge_simplex(old, sub, s, p):
  """λ after the step: s λ̃ on present tasks, the old value elsewhere."""
  return tf.where(p > 0.0, s * sub, old)


def project_present(v, p):
  """Euclidean projection of v's present entries onto the simplex over the
  present tasks; 0 on absent ones."""
  far = tf.fill(tf.shape(v), tf.constant(_FAR, v.dtype))
  out = project_simplex(tf.where(p > 0.0, v, far))
  return out * p


def present_mean(x, p):
  """Mean of x [T, ...] over the present rows (0 when none is)."""
  count = tf.maximum(tf.reduce_sum(p), 1.0)
  shape = [-1] + [1] * (len(x.shape) - 1)
  return tf.reduce_sum(x * tf.reshape(p, shape), axis=0) / count
