"""DualProj: dual-cone properties."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation.dualproj import DualProj
from tfmtl.tasks import Task


def test_projection_properties():
  rng = np.random.default_rng(0)
  for t in (2, 3, 5):
    J = rng.normal(size=(t, 7)).astype(np.float32)
    d = DualProj()(tf.constant(J)).numpy()
    scale = np.abs(J).max() ** 2
    assert np.all(J @ d >= -1e-4 * scale), J @ d           # in the dual cone
    mean = J.mean(0)
    # The projection onto a convex cone leaves a residual orthogonal to
    # the projection, and moves the point no farther than to 0 (in C).
    np.testing.assert_allclose((mean - d) @ d, 0.0, atol=1e-4 * scale)
    assert np.linalg.norm(d - mean) <= np.linalg.norm(mean) + 1e-5


def test_agreeing_gradients_give_their_preference_weighted_mean():
  J = tf.constant([[1.0, 2.0, 0.0], [2.0, 1.0, 1.0], [0.5, 0.5, 3.0]])
  np.testing.assert_allclose(DualProj()(J), J.numpy().mean(0), atol=1e-5)
  agg = DualProj()
  agg.build([Task(n, lambda y, p: y, weight=w)
             for n, w in zip("abc", (3.0, 0.0, 0.0))])
  np.testing.assert_allclose(agg(J), J.numpy()[0], atol=1e-5)  # (3/3)·g_a
