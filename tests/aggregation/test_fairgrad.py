"""FairGrad: one step equals LibMTL's scipy root."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.aggregation.fairgrad import FairGrad
from tfmtl.errors import UserError


# LibMTL/weighting/FairGrad.py: w = scipy.optimize.least_squares(
#   lambda x: A @ x - (1/x)**(1/alpha), ones(T)/T, bounds=(0, inf)).x with
# A = J Jᵀ, then backward of Σ w_t L_t, i.e. the shared update is w @ J.
# scipy is not in the test environment: these roots were computed with
# exactly that call (scipy 1.17.1, float64; residuals < 2e-9) on the J
# below (numpy default_rng(0).normal(size=(T, 6)).round(3), T = 3 then 4).
J3 = [[0.126, -0.132, 0.64, 0.105, -0.536, 0.362],
      [1.304, 0.947, -0.704, -1.265, -0.623, 0.041],
      [-2.325, -0.219, -1.246, -0.732, -0.544, -0.316]]
J4 = [[0.412, 1.043, -0.129, 1.366, -0.665, 0.352],
      [0.903, 0.094, -0.743, -0.922, -0.458, 0.22],
      [-1.01, -0.209, -0.159, 0.541, 0.215, 0.355],
      [-0.654, -0.13, 0.784, 1.493, -1.259, 1.514]]
LIBMTL_ROOTS = [
    (J3, 0.5, [1.3983612, 0.6506027, 0.6047635]),
    (J3, 1.0, [1.4588276, 0.5340941, 0.502196]),
    (J3, 2.0, [1.5131741, 0.4475553, 0.4364981]),
    (J3, 5.0, [1.5696079, 0.3848381, 0.3955357]),
    (J4, 0.5, [0.5625052, 1.2244554, 1.0780854, 0.4619606]),
    (J4, 1.0, [0.4443409, 1.2421109, 1.2416623, 0.2952531]),
    (J4, 2.0, [0.3784958, 1.2824766, 1.4402511, 0.160998]),
    (J4, 5.0, [0.361111, 1.346805, 1.6646405, 0.0442007]),
]


@pytest.mark.parametrize("J,alpha,w", LIBMTL_ROOTS)
def test_one_step_equals_libmtl(J, alpha, w):
  # In float64, so what is left is the same on every machine: the solver's
  # ridge 1e-6·mean(diag G) (the equation it solves is (G + ridge) w =
  # w^(−1/α), test below), which moves d by ≤ 6.5e-6 of max|d| on these
  # J, and the roots' rounding to 7 decimals (≤ 3e-7 on d); checked at
  # 1e-4 of max|d|.
  J = np.array(J)
  d = FairGrad(alpha=alpha)(tf.constant(J, tf.float64)).numpy()
  want = np.array(w) @ J
  np.testing.assert_allclose(d, want, atol=1e-4 * np.abs(want).max())


def test_equation_holds_at_scale_and_alpha_zero_is_the_mean():
  rng = np.random.default_rng(1)
  for alpha in (0.3, 1.0, 8.0):
    for size in (1e-3, 1.0, 1e3):  # the mapping back from G/s is exact
      # The equation solved, with the solver's ridge 1e-6·s on G (s = the
      # mean of diag G), in float64: 30 Newton steps leave it at round-off
      # (float32 gets only to ~3e-5 relative, machine-dependent).
      J = rng.normal(size=(3, 5)) * size
      G = J @ J.T
      w = FairGrad(alpha).task_combination(tf.constant(G, tf.float64),
                                           None).numpy()
      rhs = w ** (-1.0 / alpha)
      ridge = 1e-6 * np.trace(G) / 3
      np.testing.assert_allclose(G @ w + ridge * w, rhs, rtol=1e-9,
                                 atol=1e-9 * rhs.max())
  # α = 0: the mean; a float32 sum of 3 terms ≤ max|J| is ≤ 2e-7·max|J|
  # off whatever cancels; checked at 2e-6.
  J = tf.constant(rng.normal(size=(3, 4)), tf.float32)
  np.testing.assert_allclose(FairGrad(0.0)(J), J.numpy().mean(0), rtol=0,
                             atol=2e-6 * np.abs(J.numpy()).max())
  with pytest.raises(UserError, match="alpha"):
    FairGrad(-1.0)
