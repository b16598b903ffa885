"""A main task with few noisy labels and an auxiliary task of known relevance.

The controlled problem for auxiliary-task methods (ATG, PRF and its peers):
the ground truth says whether the auxiliary task should help, so a method
can be judged on whether it keeps a helpful auxiliary gradient and drops a
harmful one.

Construction (all directions unit vectors in R^d, drawn once per seed):

    main:  y_main = Σ_{k<K} a_k tanh(u_k · x) + ε,   ε ~ N(0, noise²)
    aux:   y_aux,k = b_k tanh(s_k · x),  k < K         (noiseless, [K])

with u_1..u_K orthonormal, a_k, b_k ~ U(0.5, 1.5) with random signs, and the
auxiliary directions s_k chosen by `variant`:

- "helpful": s_k = u_k (the auxiliary task needs exactly the main task's
  latent directions);
- "mixed": s_k = u_k for the first K/2, and directions orthogonal to every
  u for the rest (half shared, half competing for the shared layers);
- "harmful": every s_k orthogonal to every u (unrelated).

x ~ N(0, I_d). Every training example has an auxiliary label; only the first
`n_main` have a main label (the others hold NaN: train the main task with a
loss that skips NaN labels, as bench/aux_tasks.py does), and it is noisy.
The test split's main labels are noiseless, so its error measures how well
the true function was learned. The splits are fixed sizes rather than
fractions: `n_train` train, `n_val` validation, `n_test` test.

The auxiliary task predicts each latent feature separately (K outputs), as a
dense auxiliary task (optical flow for odometry) constrains many features of
the shared layers at once.

Tasks: "main" [1], "aux" [K].
"""

import numpy as np

from tfmtl.data.source import ArraySource
from tfmtl.errors import UserError

VARIANTS = ("helpful", "mixed", "harmful")


def directions(variant: str, d: int, k: int, rng) -> tuple:
  """(U [k, d], S [k, d]): main and auxiliary directions of `variant`."""
  if variant not in VARIANTS:
    raise UserError(f"aux_regression: variant={variant!r} is not one of "
                    f"{VARIANTS}")
  if 2 * k > d:
    raise UserError(f"aux_regression: needs input_dim >= 2·directions "
                    f"(got input_dim={d}, directions={k})")
  basis, _ = np.linalg.qr(rng.standard_normal((d, d)))
  u, other = basis[:, :k].T, basis[:, k:2 * k].T
  shared = {"helpful": k, "mixed": k // 2, "harmful": 0}[variant]
  s = np.concatenate([u[:shared], other[shared:]], axis=0)
  return u, s


def aux_regression(variant: str = "helpful", n_train: int = 512,
                   n_main: int = 32, n_val: int = 256, n_test: int = 2048,
                   input_dim: int = 16, num_directions: int = 4,
                   noise: float = 0.3, seed: int = 0) -> ArraySource:
  """The generated source (see the module docstring).

  Args:
    variant: "helpful", "mixed" or "harmful".
    n_train, n_val, n_test: examples per split.
    n_main: training examples with a main label (the first n_main).
    input_dim: d, the input size.
    num_directions: K, latent directions per task (2K <= d).
    noise: standard deviation of the main task's label noise (train and
      validation only).
    seed: draws the directions, coefficients, inputs and noise.
  """
  rng = np.random.default_rng(seed)
  u, s = directions(variant, input_dim, num_directions, rng)

  def coefficients():
    return rng.uniform(0.5, 1.5, num_directions) * rng.choice(
        [-1.0, 1.0], num_directions)

  a, b = coefficients(), coefficients()
  n = n_train + n_val + n_test
  x = rng.standard_normal((n, input_dim))
  y_main = np.tanh(x @ u.T) @ a
  y_aux = np.tanh(x @ s.T) * b
  eps = rng.normal(0.0, noise, n)
  eps[n_train + n_val:] = 0.0  # the test labels are the true function
  y_main = y_main + eps
  if not 0 < n_main <= n_train:
    raise UserError(f"aux_regression: n_main={n_main} must be in "
                    f"[1, n_train={n_train}]")
  y_main[n_main:n_train] = np.nan
  labels = {"main": y_main[:, None], "aux": y_aux}
  return _FixedSplits(x, labels, (n_train, n_val, n_test), seed)


class _FixedSplits(ArraySource):
  """ArraySource whose splits are the first n_train, next n_val, last n_test
  rows (the rows are already i.i.d.)."""

  def __init__(self, inputs, labels, sizes, seed):
    super().__init__(inputs, labels, splits=(1.0, 0.0, 0.0), seed=seed)
    bounds = np.cumsum(sizes)
    self._index = dict(zip(("train", "val", "test"),
                           np.split(np.arange(len(inputs)), bounds[:-1])))
