"""Aligned-MTL-UB (Senushkin et al., CVPR 2023)."""

from tfmtl.aggregation.aligned_mtl import AlignedMTL


class AlignedMTLUB(AlignedMTL):
  r"""Aligned-MTL on the gradients w.r.t. the shared representation.

  The paper's upper-bound variant, the counterpart of MGDA-UB: with Z the
  shared representation and J_Z [T, B·dim Z] the task gradients w.r.t. it,

    G = J_Z J_Zᵀ = V Λ Vᵀ,   B = √λ_R · V Λ⁻¹ᐟ² Vᵀ,   w = B p
    d = (∂Z/∂θ_sh)ᵀ Σ_t w_t ∇_Z L_t = Σ_t w_t ∇_θsh L_t

  i.e. the components of J_Z are aligned (Ĵ_Z = Bᵀ J_Z, Ĵ_Z Ĵ_Zᵀ = λ_R I)
  and one backward pass through the shared layers carries Ĵ_Zᵀ p to the
  shared weights; see `aligned_mtl` for B, p and the rank tolerance, and
  `mgda_ub` for the train-step mechanics (the T×T Gramian all-reduced,
  heads-only per-task passes) and the models that have a representation.
  Called directly on J [T, n] it is Aligned-MTL on J.

  References:
    Senushkin, Patakin, Kuznetsov, Konushin. "Independent Component
    Alignment for Multi-Task Learning", CVPR 2023 (Aligned-MTL-UB); official
    code github.com/SamsungLabs/MTL (`AlignedMTLUBBalancer`: the Procrustes
    solver on the encoder output's gradients, then one backward of it).
  """

  needs = frozenset({"representation"})
  # Always at the representation level: no rep_grad option.
  shared_options = {"rep_grad": None}

  def __init__(self, name="aligned_mtl_ub"):
    super().__init__(name=name)
