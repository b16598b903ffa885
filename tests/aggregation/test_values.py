"""Golden values of the aggregators on one matrix, in one table.

J_base = [[−4, 1, 1], [6, 1, 1]], G_base = J_base J_baseᵀ = [[18, −22],
[−22, 38]], as TorchJD's tests/unit/aggregation/test_values.py. Two kinds
of row:

- `printed`: TorchJD prints 4 decimals; ours round to exactly them
  (`assert_rounds_to`, no tolerance the rounding itself uses up). The
  comment says how far each value lies from a rounding midpoint against
  float32's error on it.
- `exact`: a value derived by hand, checked at a tolerance derived from
  the computation (10× its float32 round-off or more).

Where our convention differs from TorchJD's the row says which and how.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl import methods

from tests.helpers import assert_rounds_to

J_BASE = np.array([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]], np.float32)
G_BASE = J_BASE @ J_BASE.T
# The solvers add a ridge 1e-6·mean(diag G) = 2.8e-5 to G.
RIDGE = 2.8e-5

# (method, options, call arguments, value, atol or None for printed, why)
VALUES = [
    ("mgda", {}, {}, [0.0, 1.0, 1.0], None,
     "TorchJD MGDA(); ≥ 5e-5 from a midpoint (0 and 1 exactly, up to "
     "float32 round-off ≤ 1e-6)"),
    ("upgrad", {}, {},
     np.array([0.5 + 11 / (18 + RIDGE), 11 / (38 + RIDGE) + 0.5]) @ J_BASE,
     3e-6, "by hand: lower bounds (½, 0), (0, ½) give v₁ = (½, 11/38), "
     "v₂ = (11/18, ½) on G + ridge; KKT solves' round-off ≤ 3e-7 measured. "
     "TorchJD's value differs (its 1e-4 ridge): test_upgrad.py"),
    ("imtl", {}, {}, [0.0767, 1.0, 1.0], None, "TorchJD IMTLG()"),
    ("aligned_mtl", {}, {"half": True}, [0.2133, 0.9673, 0.9673], None,
     "TorchJD AlignedMTL() uses preference 1/T; ours is the official code's "
     "sum (ones), twice that for T = 2; ≥ 1.7e-5 from a midpoint, float32 "
     "≤ 3e-8"),
    ("pcgrad", {}, {}, [0.5848, 3.8012, 3.8012], None,
     "TorchJD PCGrad(); ≥ 2e-5 from a midpoint, float32 ≤ 1e-6"),
    ("pcgrad", {"randomised": True, "seed": 5}, {"step": 7},
     [0.5848, 3.8012, 3.8012], None,
     "with two tasks the random order cannot matter"),
    ("cagrad", {"c": 0.5}, {}, [0.1835, 1.2041, 1.2041], None,
     "TorchJD CAGrad(c=0.5), no rescale; ≥ 2.6e-5 from a midpoint, float32 "
     "≤ 1e-6"),
    ("nash_mtl", {}, {}, [0.0542, 0.7061, 0.7061], None,
     "TorchJD NashMTL(n_tasks=2), max_norm 1 as the official code; ≥ 3.3e-6 "
     "from a midpoint, float32 ≤ 4e-8"),
    ("conflict_free", {}, {}, [0.1588, 2.0706, 2.0706], None,
     "TorchJD ConFIG()"),
    ("fairgrad", {"alpha": 1.0}, {}, [0.0766, 0.9985, 0.9985], None,
     "TorchJD FairGrad(alpha=1); ≥ 8.9e-6 from a midpoint, float32 "
     "≤ 1.2e-7"),
    ("dualproj", {}, {}, np.array([11 / (18 + RIDGE), 0.5]) @ J_BASE, 3e-6,
     "by hand: Gp = (−2, 8) releases the first bound, v = (11/18, ½) on "
     "G + ridge; the 3×3 KKT solve's round-off ≤ 3e-7 measured"),
    ("dualproj", {"reg_eps": 1e-4}, {}, [0.5563, 1.1109, 1.1109], None,
     "TorchJD DualProj(): it solves on G/trace(G) + 1e-4·I; ≥ 3e-5 from a "
     "midpoint, float32 ≤ 1e-6"),
    ("sum", {}, {}, [2.0, 2.0, 2.0], 0.0, "Σ_t g_t, exact in float32"),
    ("mean", {}, {}, [1.0, 1.0, 1.0], 0.0, "(1/T) Σ_t g_t, exact"),
]

# (method, options, w = task_combination(G_base), why): printed values.
WEIGHTS = [
    ("fairgrad", {"alpha": 1.0}, [0.5915, 0.4071],
     "TorchJD FairGradWeighting(alpha=1) on G_base"),
    ("dualproj", {"reg_eps": 1e-4}, [0.6109, 0.5000],
     "TorchJD DualProjWeighting() on G_base"),
]


@pytest.mark.parametrize("name, options, call, want, atol, why", VALUES,
                         ids=[f"{v[0]}-{i}" for i, v in enumerate(VALUES)])
def test_value(name, options, call, want, atol, why):
  del why
  call = dict(call)
  half = call.pop("half", False)
  got = methods.get(name, **options)(tf.constant(J_BASE), **call).numpy()
  if half:
    got = got / 2
  if atol is None:
    assert_rounds_to(got, want, 4)
  else:
    np.testing.assert_allclose(got, want, atol=atol, rtol=0)


@pytest.mark.parametrize("name, options, want, why", WEIGHTS,
                         ids=[w[0] for w in WEIGHTS])
def test_weights(name, options, want, why):
  del why
  agg = methods.get(name, **options)
  got = agg.task_combination(tf.constant(G_BASE), tf.constant(J_BASE))
  assert_rounds_to(got, want, 4)
