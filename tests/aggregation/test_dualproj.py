"""DualProj: exact value, TorchJD's golden values, dual-cone properties."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation.dualproj import DualProj
from tfmtl.tasks import Task

from tests.helpers import assert_rounds_to

J_BASE = tf.constant([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])


def test_exact_and_torchjd_values():
  # By hand: G = [[18, −22], [−22, 38]], p = (½, ½): Gp = (−2, 8), so the
  # first bound is released: v = (22·½/18, ½) = (11/18, ½); exactly the
  # solver's problem with its ridge 1e-6·mean(diag G) = 2.8e-5 on G
  # (which moves d by 4e-6). float32 round-off of the 3×3 KKT solve:
  # ≤ 3e-7 measured (oneDNN on and off); checked at 3e-6.
  w = np.array([22 * 0.5 / (18 + 2.8e-5), 0.5])
  np.testing.assert_allclose(DualProj()(J_BASE), w @ J_BASE.numpy(),
                             atol=3e-6)
  # Source: TorchJD tests/unit/aggregation/test_values.py, DualProj() on
  # J_base and DualProjWeighting() on G_base, atol 1e-4. TorchJD solves on
  # G/trace(G) + 1e-4·I: reg_eps=1e-4 is that convention.
  agg = DualProj(reg_eps=1e-4)
  # TorchJD prints 4 decimals; ours round to them: each value lies ≥ 3e-5 from a
  # rounding midpoint, float32 moves it by ≤ 1e-6.
  assert_rounds_to(agg(J_BASE), [0.5563, 1.1109, 1.1109], 4)
  G = tf.matmul(J_BASE, J_BASE, transpose_b=True)
  assert_rounds_to(agg.task_combination(G, J_BASE), [0.6109, 0.5000], 4)


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
