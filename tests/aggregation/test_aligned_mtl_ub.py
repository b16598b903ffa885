"""Aligned-MTL-UB: Procrustes alignment of the representation gradients.

Checked against a numpy transcription of the official AlignedMTLUBBalancer
(SamsungLabs/MTL, scale mode 'min'): w = B p with B = √λ_min V Λ⁻¹ᐟ² Vᵀ
from the eigendecomposition of G = J_Z J_Zᵀ, p = the task weights.
"""

import numpy as np
import pytest

from tests.aggregation.test_mgda_ub import check_one_step

P = np.array([1.0, 0.5])  # the tasks' configured weights


def procrustes_weights(G):
  lam, v = np.linalg.eigh(G.astype(np.float64))
  b = np.sqrt(lam.min()) * (v / np.sqrt(lam)) @ v.T
  return b @ P


@pytest.mark.parametrize("function", [False, True])
def test_step_matches_the_official_update(function):
  check_one_step("aligned_mtl_ub", procrustes_weights, function)


def test_aligned_representation_gradients_are_orthogonal_and_equal():
  """Ĵ_Z = Bᵀ J_Z has Ĵ_Z Ĵ_Zᵀ = λ_min I (the method's defining property)."""
  rng = np.random.default_rng(0)
  jz = rng.normal(size=(2, 40)) + np.array([[1.0], [0.2]])
  G = jz @ jz.T
  lam, v = np.linalg.eigh(G)
  b = np.sqrt(lam.min()) * (v / np.sqrt(lam)) @ v.T
  aligned = b.T @ jz
  np.testing.assert_allclose(aligned @ aligned.T, lam.min() * np.eye(2),
                             atol=1e-9)
