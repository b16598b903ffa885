"""MGDA-UB (Sener & Koltun, NeurIPS 2018, §3.3)."""

from tfmtl.aggregation.mgda import MGDA


class MGDAUB(MGDA):
  r"""MGDA on the gradients w.r.t. the shared representation ("upper bound").

  With Z = g(x; θ_sh) the shared representation of the batch (every tensor
  the task heads read) and L_t(Z, θ_t) the task losses, the chain rule gives
  ∇_θsh L_t = (∂Z/∂θ_sh)ᵀ ∇_Z L_t, hence

    ‖Σ_t w_t ∇_θsh L_t‖² ≤ ‖∂Z/∂θ_sh‖² · ‖Σ_t w_t ∇_Z L_t‖²,

  and MGDA-UB minimises the upper bound's w-dependent factor:

    w* = argmin_{w ≥ 0, Σw = 1} ‖Σ_t w_t ∇_Z L_t‖²
       = argmin wᵀ G w,   G = J_Z J_Zᵀ,   J_Z [T, B·dim Z]
    d  = Σ_t w*_t ∇_θsh L_t = (∂Z/∂θ_sh)ᵀ (Σ_t w*_t ∇_Z L_t)

  d comes from one backward pass through the shared layers, seeded with
  Σ_t w*_t ∇_Z L_t; the T per-task passes stop at Z (the heads only). That
  is the method's point: its cost is close to one backward of the whole
  network whatever T is, where `mgda` needs T (bench/methods.py measures
  it). By the paper's Theorem 1 the result is either 0 (then the weights
  give a Pareto-stationary point when ∂Z/∂θ_sh has full rank) or a direction
  that lowers every task's loss.

  The sub-problem is solved exactly (`solvers.min_norm_weights`, as
  `mgda`); gradients are not normalised. Task-specific variables get
  w_t ∇_θt L_t with the configured task weights w_t, as every aggregator.

  Distribution: J_Z's columns are per-example blocks, so the Gramian over
  the global batch is the sum of the replicas' local Gramians; the step
  all-reduces the T×T matrix (not J_Z) and every replica solves the same
  problem, which gives single-device results.

  Requirements: a model whose heads read only its shared representation
  (`MultiTaskModel.call_split`: hard_sharing, hard_sharing_conv, segnet
  split, dual_encoder, pose_flow); the step refuses other models. Called
  directly on J [T, n] (the aggregator contract) it is MGDA on J.
  `aligned_mtl_ub` applies the same construction to Aligned-MTL.

  References:
    Sener, Koltun. "Multi-Task Learning as Multi-Objective Optimization",
    NeurIPS 2018, §3.3 ("Efficient optimization for encoder-decoder
    architectures") and Theorem 1.
  """

  needs = frozenset({"representation"})
  # Always at the representation level: no rep_grad option.
  shared_options = {"rep_grad": None}

  def __init__(self, name="mgda_ub"):
    super().__init__(name=name)
