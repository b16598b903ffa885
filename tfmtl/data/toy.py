"""The two toy problems, generated in memory.

- `correlated_regression`: seed 003's two correlated regression tasks.
- `gradnorm_toy`: the toy of Chen et al., GradNorm (ICML 2018), §4.
"""

from typing import Sequence

import numpy as np

from tfmtl.data.source import ArraySource


def correlated_regression(n: int = 10000, m: int = 100, c: float = 0.5,
                          p: float = 0.9, seed: int = 42) -> ArraySource:
  """Two regression tasks whose weight vectors have cosine similarity p.

  As seed 003: unit vectors u1 ⟂ u2, w1 = c·u1, w2 = c·(p·u1 + √(1−p²)·u2),
  X ~ N(0, 1)^{n×m}, y_t = X w_t + sin(X w_t) + ε_t where ε_t ~ N(0, 0.01)
  is drawn once per task (a constant offset, exactly as the seed does).
  Splits are 80/10/10 of one permutation (the seed's validation slice
  overlaps its training set; this does not).

  Tasks: "y1", "y2", each [1].
  """
  rng = np.random.default_rng(seed)
  k = rng.standard_normal(m)
  u1 = rng.standard_normal(m)
  u1 -= u1.dot(k) * k / np.linalg.norm(k) ** 2
  u1 /= np.linalg.norm(u1)
  u2 = k / np.linalg.norm(k)
  w1 = c * u1
  w2 = c * (p * u1 + np.sqrt(1 - p ** 2) * u2)
  x = rng.standard_normal((n, m))
  eps1, eps2 = rng.normal(0, 0.01, size=2)
  y1 = x @ w1 + np.sin(x @ w1) + eps1
  y2 = x @ w2 + np.sin(x @ w2) + eps2
  labels = {"y1": y1[:, None], "y2": y2[:, None]}
  return ArraySource(x, labels, splits=(0.8, 0.1, 0.1), seed=seed)


def gradnorm_toy(sigmas: Sequence[float] = (1.0, 100.0), n: int = 10000,
                 input_dim: int = 250, output_dim: int = 100,
                 seed: int = 0) -> ArraySource:
  """f_t(x) = σ_t · tanh((B + ε_t) x), the GradNorm paper's toy (§4).

  B ~ N(0, 10²) and ε_t ~ N(0, 3.5²) elementwise: 10 and 3.5 are taken as
  standard deviations, as numpy's `normal(scale=...)` in the public PyTorch
  reproduction of the paper. x ~ U(−1, 1)^250. Task t's targets scale with
  σ_t, so its loss (and gradient) is σ_t² (σ_t) times larger: the imbalance
  GradNorm is meant to undo. Tasks are named t00, t01, ... ([100] each).
  """
  rng = np.random.default_rng(seed)
  b = rng.normal(0.0, 10.0, size=(output_dim, input_dim))
  x = rng.uniform(-1.0, 1.0, size=(n, input_dim))
  labels = {}
  for t, sigma in enumerate(sigmas):
    eps = rng.normal(0.0, 3.5, size=(output_dim, input_dim))
    labels[f"t{t:02d}"] = sigma * np.tanh(x @ (b + eps).T)
  return ArraySource(x, labels, splits=(0.8, 0.1, 0.1), seed=seed)
