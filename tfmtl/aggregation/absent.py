"""Leaving absent tasks out of a gradient-level method's problem.

With partly labelled data a task may have no labelled example in a step
(engine/forward.py): its loss is 0 and its row of J is zero. A zero row is
not a real gradient: MGDA's min-norm point would sit on it (no update),
IMTL and Nash-MTL would divide by its norm, a trimmed mean would count it,
CAGrad's average would shrink by P/T. So the method is applied to the P
present tasks only, as if the absent ones were not being trained this step:

    d = agg(J[present])            (rows in their original order)
    w = method weights of G[present, present], 0 for absent tasks.

P is known only when the step runs, while a method's shapes must be static:
`rows` and `gramian_weights` trace the method once for every P = 1..T on
the first P rows of J with present tasks moved first (a stable sort, so
their order is kept), and `tf.switch_case` picks the branch (P = 0: no
gradient). Only steps whose batches carry sample weights go this way; the
price is T traces of the method in the step's graph.

A method's per-task configuration (`task_weights`) is restricted to the
present tasks while its branch is traced. Methods with per-task *state*
(EMAs, histories, pairwise targets) or task roles can't be restricted this
way: they set `handles_absent = True` and take `present=` themselves.

A rule that needs more tasks than are present (Krum: T ≥ f + 3, trimmed
mean: T ≥ 2k + 1; `min_tasks`) falls back to the weighted mean of the
present rows for that branch, as the two reduce to when nothing can be
trimmed or rejected.
"""

import contextlib

import tensorflow as tf

# extra arguments with one entry per task: gathered with J's rows.
PER_TASK = ("variance", "losses", "loss_weights")


def order(present):
  """(indices with present tasks first, in order; number present)."""
  absent = tf.cast(tf.logical_not(present), tf.int32)
  return (tf.argsort(absent, stable=True),
          tf.reduce_sum(tf.cast(present, tf.int32)))


@contextlib.contextmanager
def restricted(method, idx):
  """The method's configured task weights cut to tasks `idx` meanwhile."""
  saved = getattr(method, "task_weights", None)
  if saved is not None:
    method.task_weights = tf.gather(saved, idx)
  try:
    yield
  finally:
    if saved is not None:
      method.task_weights = saved


def _sub_extra(extra, idx):
  return {k: tf.gather(v, idx) if k in PER_TASK else v
          for k, v in extra.items()}


def _mean_weights(method, k, dtype):
  w = getattr(method, "task_weights", None)
  w = tf.ones([k], dtype) if w is None else tf.cast(w, dtype)
  return w / float(k)


def _by_count(present, t, on_subset, empty):
  """`on_subset(idx, k)` for the k = P present tasks' indices idx (static
  length k), traced for every k = 1..T; `empty()` when P = 0."""
  idx_all, count = order(present)
  branches = [empty] + [
      (lambda k=k: on_subset(idx_all[:k], k)) for k in range(1, t + 1)]
  return tf.switch_case(count, branches)


def rows(method, J, present, extra):
  """d = method(J[present]) [n], or 0 when no task is present."""
  need = method.min_tasks

  def on_subset(idx, k):
    sub = tf.gather(J, idx)
    with restricted(method, idx):
      if k < need:
        return tf.linalg.matvec(sub, _mean_weights(method, k, J.dtype),
                                transpose_a=True)
      return method(sub, **_sub_extra(extra, idx))

  return _by_count(present, J.shape[0], on_subset,
                   lambda: tf.zeros_like(J[0]))


def gramian_weights(method, combination, G, J, present, extra):
  """w [T]: `combination(G[p, p], J[p], **extra[p])` scattered back, 0 for
  absent tasks (J may be None: methods on the representation)."""
  t = G.shape[0]
  need = method.min_tasks

  def on_subset(idx, k):
    sub_g = tf.gather(tf.gather(G, idx), idx, axis=1)
    sub_j = None if J is None else tf.gather(J, idx)
    with restricted(method, idx):
      if k < need:
        w = _mean_weights(method, k, G.dtype)
      else:
        w = combination(sub_g, sub_j, **_sub_extra(extra, idx))
    return tf.scatter_nd(idx[:, None], tf.cast(w, G.dtype), [t])

  return _by_count(present, t, on_subset, lambda: tf.zeros([t], G.dtype))
