"""CGC: Customized Gate Control (Tang et al., RecSys 2020, §4.2).

"Progressive Layered Extraction (PLE): A Novel Multi-Task Learning (MTL)
Model for Personalized Recommendations", Eq. 2–4: S shared experts f^s and,
per task, K task experts fᵗ; task t's gate mixes its own experts and the
shared ones only:

    gᵗ(x) = softmax(Wᵗ x) ∈ Δ^{K+S},
    yᵗ = hᵗ( Σᵢ gᵗ(x)ᵢ [f₁ᵗ(x) … f_Kᵗ(x), f₁ˢ(x) … f_Sˢ(x)]ᵢ )

Shared: the S shared experts. Task-specific: task t's experts, gate and
tower. `call_split` gives Z = the shared experts' outputs [B, S, d]; the
heads run the task experts and gates on the input x.

As LibMTL's `CGC` (gate on the flattened input; LibMTL concatenates the
shared experts first, which only permutes the gate's outputs) and DeepCTR's
single-level PLE.
"""

import tensorflow as tf

from tfmtl.errors import UserError
from tfmtl.models import moe


class CGC(moe.MoEModel):
  """Customized Gate Control: shared and task-specific experts.

  Args:
    num_shared: S, experts shared by all tasks.
    num_specific: K, experts of each task.
    **kwargs: see `moe.MoEModel`.
  """

  def __init__(self, num_shared: int = 2, num_specific: int = 1, **kwargs):
    super().__init__(**kwargs)
    if int(num_shared) < 1 or int(num_specific) < 0:
      raise UserError(f"cgc: num_shared={num_shared}, num_specific="
                      f"{num_specific}; use at least one shared expert")
    self._config.update(dict(num_shared=int(num_shared),
                             num_specific=int(num_specific)))
    # === Layers ===
    self.shared_experts = [self._make_expert(f"shared_expert{e}")
                           for e in range(num_shared)]
    self.task_experts = {t: [self._make_expert(f"{t}_expert{e}")
                             for e in range(num_specific)]
                         for t in self.tasks_}
    self.gates = {t: self._gate(num_specific + num_shared, f"{t}_gate")
                  for t in self.tasks_}
    self._register(shared=self.shared_experts, per_task={
        t: self.task_experts[t] + [self.gates[t]] + self.towers[t]
        for t in self.tasks_})

  def call_split(self, inputs, training=False):
    image = moe.L.image_of(inputs)
    shared = self._stack(self.shared_experts, image)
    x = moe.flat(image)

    def heads(z):
      out = {}
      for t in self.tasks_:
        candidates = z
        if self.task_experts[t]:
          own = self._stack(self.task_experts[t], image)
          candidates = tf.concat([own, z], axis=1)
        out[t] = self._apply_tower(t, moe.mix(self.gates[t](x), candidates))
      return out
    return shared, heads
