"""IMTL (Liu et al., ICLR 2021): IMTL-L and IMTL-G together, as LibMTL's IMTL."""

from tfmtl.aggregation.composed import Composed
from tfmtl.aggregation.imtl import IMTL
from tfmtl.weighting.imtl_l import IMTLL


def imtl_hybrid(name: str = "imtl_hybrid") -> Composed:
  r"""IMTL-L's learned loss scales, then IMTL-G on the scaled gradients.

  The composition `imtl_l+imtl` (aggregation/composed.py) under its
  paper's name: with learned s_t,

    L̃_t = e^{s_t} L_t − s_t                       (IMTL-L)
    α = IMTL-G(diag(e^s) J)                        equal projections
    d_shared = Σ_t α_t e^{s_t} g_t,  d_θt = e^{s_t} ∇_θt L_t,
    ∂/∂s_t = e^{s_t} L_t − 1.

  That is LibMTL/weighting/IMTL.py step for step (it back-propagates each
  scaled loss L̃_t, so the heads and s get exactly these gradients, and
  combines the scaled shared gradients with IMTL-G's α). Scale: α sums to
  1 (IMTL-G's convention).

  References:
    Liu et al. "Towards Impartial Multi-task Learning", ICLR 2021.
  """
  return Composed(IMTLL(), IMTL(), name=name)
