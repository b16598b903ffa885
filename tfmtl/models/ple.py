"""PLE: Progressive Layered Extraction (Tang et al., RecSys 2020, §4.3).

"Progressive Layered Extraction (PLE): A Novel Multi-Task Learning (MTL)
Model for Personalized Recommendations", Eq. 5–6: L stacked extraction
levels. Level l has S shared experts f^{s,l} reading the shared input
h_s^l, K experts f^{t,l} per task reading the task's input h_t^l, a gate per
task over its own and the shared experts, and (below the top level) a
shared gate over *all* experts:

    h_t^{l+1} = Σ softmax(W_t^l h_t^l) ⊙ [f^{t,l}(h_t^l), f^{s,l}(h_s^l)]
    h_s^{l+1} = Σ softmax(W_s^l h_s^l) ⊙ [f^{1,l}, …, f^{T,l}, f^{s,l}]
    yᵗ = hᵗ(h_t^L),      h_t^1 = h_s^1 = x

Level 1's experts are the given expert network; higher levels' experts are
MLPs (`upper_units`) on the level's d-vectors. With L = 1 this is CGC.

Shared / task-specific (a variable is task t's only if no other task's
output depends on it): a task expert below the top level feeds the shared
gate, so it is shared, as are every shared expert and shared gate; task
gates below level L − 1 feed task experts that are shared, so they are
shared too. Task t's own: its top-level experts and gate, its gate at level
L − 1 (whose output reaches only task t's top level) and its tower.
`call_split` gives Z = {the top level's shared expert outputs, and for
L ≥ 2 the level L − 1 expert outputs task t's gate mixes (and that gate's
input when it is not x)}.

Differences from LibMTL's `PLE` and why: LibMTL has no shared gate (each
task's path runs the shared experts on its own representation) and splits
a ResNet into levels; this follows the paper and DeepCTR (`deepctr/models/
multitask/ple.py`), whose shared gate feeds the next level's shared
experts. Gates read their level's input flattened, as in both.
"""

from typing import Sequence

import tensorflow as tf

from tfmtl.errors import UserError
from tfmtl.models import moe


class PLE(moe.MoEModel):
  """Progressive Layered Extraction: stacked CGC levels with shared gates.

  Args:
    num_levels: L ≥ 1 extraction levels.
    num_shared: S shared experts per level.
    num_specific: K experts per task per level.
    upper_units: widths of the MLP experts of levels 2..L.
    **kwargs: see `moe.MoEModel`.
  """

  def __init__(self, num_levels: int = 2, num_shared: int = 2,
               num_specific: int = 1, upper_units: Sequence[int] = (50,),
               **kwargs):
    super().__init__(**kwargs)
    if int(num_levels) < 1 or int(num_shared) < 1 or int(num_specific) < 0:
      raise UserError(f"ple: num_levels={num_levels}, num_shared="
                      f"{num_shared}, num_specific={num_specific}; use at "
                      "least one level and one shared expert")
    self._config.update(dict(num_levels=int(num_levels),
                             num_shared=int(num_shared),
                             num_specific=int(num_specific),
                             upper_units=[int(u) for u in upper_units]))
    # === Layers ===
    n_levels, tasks = int(num_levels), list(self.tasks_)
    self.shared_experts, self.task_experts = [], []
    self.task_gates, self.shared_gates = [], []
    for l in range(n_levels):
      make = (self._make_expert if l == 0 else
              lambda name: self._make_expert(
                  name, "mlp", {"units": self._config["upper_units"]}))
      self.shared_experts.append([make(f"l{l}_shared_expert{e}")
                                  for e in range(num_shared)])
      self.task_experts.append({t: [make(f"l{l}_{t}_expert{e}")
                                    for e in range(num_specific)]
                                for t in tasks})
      self.task_gates.append({t: self._gate(num_specific + num_shared,
                                            f"l{l}_{t}_gate")
                              for t in tasks})
      if l < n_levels - 1:
        self.shared_gates.append(self._gate(
            len(tasks) * num_specific + num_shared, f"l{l}_shared_gate"))
    top = n_levels - 1
    own = {t: self.task_experts[top][t] + [self.task_gates[top][t]] +
           ([self.task_gates[top - 1][t]] if top else []) + self.towers[t]
           for t in tasks}
    shared = []
    for l in range(n_levels):
      shared += self.shared_experts[l]
      if l < top:
        shared += [self.shared_gates[l]]
        shared += [e for t in tasks for e in self.task_experts[l][t]]
      if l < top - 1:
        shared += [self.task_gates[l][t] for t in tasks]
    self._register(shared=shared, per_task=own)

  def _candidates(self, own, shared):
    return tf.concat([own, shared], axis=1) if own is not None else shared

  def _experts(self, layers, x):
    return self._stack(layers, x) if layers else None

  def call_split(self, inputs, training=False):
    top = self._config["num_levels"] - 1
    x = moe.L.image_of(inputs)
    h_task = {t: x for t in self.tasks_}
    h_shared = x
    z = {}
    for l in range(top):  # the levels below the top
      shared = self._stack(self.shared_experts[l], h_shared)
      own = {t: self._experts(self.task_experts[l][t], h_task[t])
             for t in self.tasks_}
      candidates = {t: self._candidates(own[t], shared) for t in self.tasks_}
      if l == top - 1:  # task gates of level L − 1 run in the heads
        z["candidates"] = candidates
        if l > 0:
          z["gate_in"] = dict(h_task)
      else:
        h_task = {t: moe.mix(self.task_gates[l][t](moe.flat(h_task[t])),
                             candidates[t]) for t in self.tasks_}
      everything = [o for o in own.values() if o is not None] + [shared]
      h_shared = moe.mix(self.shared_gates[l](moe.flat(h_shared)),
                         tf.concat(everything, axis=1))
    z["shared"] = self._stack(self.shared_experts[top], h_shared)

    def heads(z):
      out = {}
      for t in self.tasks_:
        if top == 0:
          h = x
        else:
          gate_in = z["gate_in"][t] if top >= 2 else x
          h = moe.mix(self.task_gates[top - 1][t](moe.flat(gate_in)),
                      z["candidates"][t])
        own = self._experts(self.task_experts[top][t], h)
        weights = self.task_gates[top][t](moe.flat(h))
        out[t] = self._apply_tower(t, moe.mix(
            weights, self._candidates(own, z["shared"])))
      return out
    return z, heads
