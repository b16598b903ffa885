"""Golden values of the aggregators on one matrix, in one table.

J_base = [[−4, 1, 1], [6, 1, 1]], G_base = J_base J_baseᵀ = [[18, −22],
[−22, 38]], as TorchJD's tests/unit/aggregation/test_values.py (its
tolerance 1e-4). Each row says where its value comes from; where our
convention differs from TorchJD's the row says which and how.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl import methods

J_BASE = np.array([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]], np.float32)
G_BASE = J_BASE.astype(np.float64) @ J_BASE.T

# (method, its options, call arguments, d = agg(J_base), atol, source)
VALUES = [
    ("mgda", {}, {}, [0.0, 1.0, 1.0], 1e-4, "TorchJD MGDA()"),
    ("upgrad", {}, {}, np.array([10 / 9, 15 / 19]) @ J_BASE, 1e-5,
     "by hand: lower bounds (½, 0), (0, ½) give v₁ = (½, 11/38), "
     "v₂ = (11/18, ½)"),
    ("upgrad", {}, {}, [0.2929, 1.9004, 1.9004], 1e-3,
     "TorchJD UPGrad(): it adds a 1e-4 ridge to G, so 1e-3, not 1e-4"),
    ("imtl", {}, {}, [0.0767, 1.0, 1.0], 1e-4, "TorchJD IMTLG()"),
    ("aligned_mtl", {}, {}, [0.4266, 1.9346, 1.9346], 2e-4,
     "TorchJD AlignedMTL() gives half ([0.2133, 0.9673, 0.9673]) with "
     "preference 1/T; ours is the official code's sum (ones)"),
    ("pcgrad", {}, {}, [0.5848, 3.8012, 3.8012], 1e-4, "TorchJD PCGrad()"),
    ("pcgrad", {"randomised": True, "seed": 5}, {"step": 7},
     [0.5848, 3.8012, 3.8012], 1e-4,
     "with two tasks the random order cannot matter"),
    ("cagrad", {"c": 0.5}, {}, [0.1835, 1.2041, 1.2041], 1e-4,
     "TorchJD CAGrad(c=0.5), no rescale"),
    ("nash_mtl", {}, {}, [0.0542, 0.7061, 0.7061], 1e-4,
     "TorchJD NashMTL(n_tasks=2); max_norm 1 as the official code"),
    ("conflict_free", {}, {}, [0.1588, 2.0706, 2.0706], 1e-4,
     "TorchJD ConFIG()"),
    ("fairgrad", {"alpha": 1.0}, {}, [0.0766, 0.9985, 0.9985], 1e-4,
     "TorchJD FairGrad(alpha=1)"),
    ("dualproj", {}, {}, np.array([11 / 18, 0.5]) @ J_BASE, 1e-5,
     "by hand: Gp = (−2, 8) releases the first bound, v = (11/18, ½)"),
    ("dualproj", {"reg_eps": 1e-4}, {}, [0.5563, 1.1109, 1.1109], 1e-4,
     "TorchJD DualProj(): it solves on G/trace(G) + 1e-4·I"),
    ("sum", {}, {}, [2.0, 2.0, 2.0], 0.0, "Σ_t g_t"),
    ("mean", {}, {}, [1.0, 1.0, 1.0], 0.0, "(1/T) Σ_t g_t"),
]

# (method, its options, w = task_combination(G_base), atol, source)
WEIGHTS = [
    ("fairgrad", {"alpha": 1.0}, [0.5915, 0.4071], 1e-4,
     "TorchJD FairGradWeighting(alpha=1) on G_base"),
    ("dualproj", {"reg_eps": 1e-4}, [0.6109, 0.5000], 1e-4,
     "TorchJD DualProjWeighting() on G_base"),
]


@pytest.mark.parametrize("name, options, call, want, atol, source", VALUES,
                         ids=[f"{v[0]}-{i}" for i, v in enumerate(VALUES)])
def test_value(name, options, call, want, atol, source):
  del source
  got = methods.get(name, **options)(tf.constant(J_BASE), **call)
  np.testing.assert_allclose(got, np.asarray(want, np.float32), atol=atol,
                             rtol=0)


@pytest.mark.parametrize("name, options, want, atol, source", WEIGHTS,
                         ids=[w[0] for w in WEIGHTS])
def test_weights(name, options, want, atol, source):
  del source
  agg = methods.get(name, **options)
  got = agg.task_combination(tf.constant(G_BASE, tf.float32),
                             tf.constant(J_BASE))
  np.testing.assert_allclose(got, want, atol=atol, rtol=0)
