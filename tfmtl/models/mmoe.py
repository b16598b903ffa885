"""MMoE: Multi-gate Mixture-of-Experts (Ma et al., KDD 2018).

"Modeling Task Relationships in Multi-task Learning with Multi-gate
Mixture-of-Experts", Eq. 5–6. E shared experts fₑ, one softmax gate per
task over them, one tower hᵗ per task:

    gᵗ(x) = softmax(Wᵗ x),    yᵗ = hᵗ( Σₑ gᵗ(x)ₑ fₑ(x) )

Shared: the experts. Task-specific: task t's gate Wᵗ and tower hᵗ.
`call_split` gives Z = the stacked expert outputs [B, E, d]; the heads
(gate, mixing, tower) read the input x, which no variable produces, and Z.

As LibMTL's `MMoE` (gate on the flattened raw input, softmax over experts).
DeepCTR's MMoE gate is the same Dense + softmax on its DNN input.
"""

from tfmtl.errors import UserError
from tfmtl.models import moe


class MMoE(moe.MoEModel):
  """Multi-gate Mixture-of-Experts.

  Args:
    num_experts: E, the shared experts.
    **kwargs: see `moe.MoEModel` (tasks, expert, expert_kwargs,
      tower_units, seed).
  """

  def __init__(self, num_experts: int = 4, **kwargs):
    super().__init__(**kwargs)
    if int(num_experts) < 1:
      raise UserError(f"mmoe: num_experts={num_experts}; use 1 or more")
    self._config["num_experts"] = int(num_experts)
    # === Layers ===
    self.experts = [self._make_expert(f"expert{e}")
                    for e in range(num_experts)]
    self.gates = {t: self._gate(num_experts, f"{t}_gate")
                  for t in self.tasks_}
    self._register(shared=self.experts, per_task={
        t: [self.gates[t]] + self.towers[t] for t in self.tasks_})

  def call_split(self, inputs, training=False):
    return self.mixture_split(inputs)

