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
