"""Pseudo GradNorm: the TI edgeai update rule, step by step."""

import numpy as np
import tensorflow as tf

from tfmtl.tasks import Task
from tfmtl.weighting.pseudo_gradnorm import PseudoGradNorm


def _reference(w, state, losses, norms, alpha=0.75, lr=1e-4):
  """The rule of TI's xnn/layers/multi_task.py in numpy."""
  g = w * norms
  if state is None:
    state = dict(dy=g, short=losses, long=losses)
  else:
    state = dict(dy=state["dy"] * (1 - 1e-3) + g * 1e-3,
                 short=state["short"] * (1 - 1e-3) + losses * 1e-3,
                 long=state["long"] * (1 - 1e-6) + losses * 1e-6)
  rate = state["short"] / (state["long"] + 1e-6)
  target = state["dy"].mean() * (rate / rate.sum()) ** alpha
  w = w + lr * w * (target / (state["dy"] + 1e-6) - 1)
  return len(w) * w / w.sum(), state


def test_matches_reference_and_sums_to_t():
  method = PseudoGradNorm(lr=1e-2)  # a large step so the change is visible
  method.build([Task(n, lambda y, p: y) for n in "abc"])
  rng = np.random.default_rng(0)
  w, state = np.ones(3), None
  for _ in range(5):
    losses = rng.uniform(0.5, 2.0, 3)
    norms = np.array([1.0, 5.0, 0.2]) * rng.uniform(0.9, 1.1, 3)
    np.testing.assert_allclose(method(tf.constant(losses, tf.float32),
                                      tf.constant(0)), w, rtol=1e-5)
    method.update(tf.constant(losses, tf.float32), tf.constant(0),
                  grad_norms=tf.constant(norms, tf.float32))
    w, state = _reference(w, state, losses, norms, lr=1e-2)
  got = method(tf.ones([3]), tf.constant(0)).numpy()
  np.testing.assert_allclose(got, w, rtol=1e-5)
  np.testing.assert_allclose(got.sum(), 3.0, rtol=1e-6)
  # The task with the largest gradient norm is turned down.
  assert np.argmin(got) == 1


def test_absent_task_keeps_its_emas_and_weight():
  """Task b absent at the first step (EMAs not started) and later, a
  absent at the last: the rule runs on the present tasks (mean of Ĝ and
  sum of r over them) and renormalises them to the total they had; an
  absent task's EMAs and weight stay, its EMAs start at its first
  present value."""
  lr = 1e-2
  method = PseudoGradNorm(lr=lr)
  method.build([Task(n, lambda y, p: y) for n in "abc"])
  rng = np.random.default_rng(1)
  w, seen = np.ones(3), np.zeros(3, bool)
  st = {k: np.zeros(3) for k in ("dy", "short", "long")}
  masks = [[True, False, True], [True] * 3, [True, False, True],
           [True] * 3, [False, True, True]]
  for k, mask in enumerate(masks):
    p = np.array(mask)
    losses = np.where(p, rng.uniform(0.5, 2.0, 3), 0.0)
    norms = np.where(p, np.array([1.0, 5.0, 0.2]) * rng.uniform(0.9, 1.1, 3),
                     0.0)
    method.update(tf.constant(losses, tf.float32), tf.constant(k),
                  grad_norms=tf.constant(norms, tf.float32),
                  present=tf.constant(mask))
    g = w * norms
    for key, value, beta in (("dy", g, 1e-3), ("short", losses, 1e-3),
                             ("long", losses, 1e-6)):
      new = np.where(seen, (1 - beta) * st[key] + beta * value, value)
      st[key] = np.where(p, new, st[key])
    seen |= p
    rate = st["short"] / (st["long"] + 1e-6)
    target = st["dy"][p].mean() * (rate / rate[p].sum()) ** 0.75
    new = w + lr * w * (target / (st["dy"] + 1e-6) - 1)
    w = np.where(p, w[p].sum() * new / new[p].sum(), w)
    np.testing.assert_allclose(method.w.numpy(), w, rtol=1e-5,
                               err_msg=f"step {k}")
    np.testing.assert_allclose(method.norms.numpy(), st["dy"], rtol=1e-5)
    np.testing.assert_allclose(method.long.numpy(), st["long"], rtol=1e-5)
    np.testing.assert_allclose(method.w.numpy().sum(), 3.0, rtol=1e-6)
  assert w[0] != 1.0 and w[1] != 1.0
