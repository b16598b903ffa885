r"""Gradient cosine similarity gating of auxiliary tasks (Du et al. 2018).

With g_m = Σ_{t ∈ main} w_t g_t the main tasks' combined gradient and, per
shared layer L (or over all shared variables with `per_layer=False`),

    cos_L = ⟨g_m, g_aux⟩_L / (‖g_m‖_L ‖g_aux‖_L)

the auxiliary task's gradient on layer L enters with the gate

    unweighted:  λ_L = w_aux · 1[cos_L ≥ 0]         ("cosine")
    weighted:    λ_L = w_aux · max(0, cos_L)        ("cosine_weighted")
    d = g_m + Σ_{a ∈ aux} λ_a ⊙ g_a

An auxiliary gradient that points away from the main one (on a layer) is
dropped there; the weighted form also shrinks gradients that are nearly
orthogonal. Output scale: the configured weights', a sum over tasks (ATG
when every gate is open). Auxiliary-only variables get w_aux ∇L_aux (the
train step does that). Logs the gate per layer as `gate/<layer>` and the
cosine as `cos/<layer>`.

Where it differs from the paper: the paper compares with the single main
task's gradient and its Algorithm 1 uses one cosine over all parameters;
here several main tasks are combined with their weights first, and the
default is one cosine per shared layer (our choice: conflict between tasks
is usually structured by layer, and one layer's agreement can't hide
another's conflict). `per_layer=False` is Algorithm 1. A zero gradient
gives cos = 0: the unweighted gate stays open (it adds nothing anyway), the
weighted one closes.

Absent tasks (no labelled example in the step): an absent auxiliary task
contributes nothing and logs gate 0 and cos 0 (there is no state). An
absent main task leaves g_m (the present main tasks' sum). When no main
task is present there is nothing to compare with: every present auxiliary
gradient enters at its configured weight, λ = w_aux (ATG), and logs cos 0.
We chose this over dropping them so the step still learns from the
auxiliary labels it has; the gate is a guard against conflict with the
main task, and with no main gradient in the step there is none to avoid
(dropping them would waste every step without a main label).

References:
  Du, Czarnecki, Jayakumar, Farajtabar, Pascanu, Lakshminarayanan.
  "Adapting Auxiliary Losses Using Gradient Similarity", arXiv:1812.02224,
  2018 (Algorithm 1 and the weighted variant of its §2).
"""

from typing import Optional

import tensorflow as tf

from tfmtl.aggregation.auxiliary import GatedAuxiliary

TINY = 1e-30


class Cosine(GatedAuxiliary):
  """Keeps an auxiliary gradient on a layer where it agrees with the main.

  Args:
    weighted: gate by max(0, cos) instead of 1[cos ≥ 0].
    per_layer: one cosine per shared layer (default) or one over all.
  """

  handles_absent = True  # see the docstring's absent tasks

  def __init__(self, weighted: bool = False, per_layer: bool = True,
               name: Optional[str] = None):
    super().__init__(name=name or ("cosine_weighted" if weighted
                                   else "cosine"))
    self.weighted, self.per_layer = bool(weighted), bool(per_layer)

  def cosines(self, g_main: tf.Tensor, g_aux: tf.Tensor) -> tf.Tensor:
    """[L] cosine between the two gradients on each layer."""
    dot = self.layer_sum(g_main * g_aux)
    norms = tf.sqrt(self.layer_sum(tf.square(g_main)) *
                    self.layer_sum(tf.square(g_aux)))
    return dot / tf.maximum(norms, TINY)

  def gate(self, cos: tf.Tensor) -> tf.Tensor:
    """[L] gate in [0, 1] from the cosines (before w_aux)."""
    if self.weighted:
      return tf.maximum(cos, 0.0)
    return tf.cast(cos >= 0.0, cos.dtype)

  def __call__(self, J, present=None, **extra):
    w = self.weights_for(J)
    g_main = self.main_gradient(J, w, present)
    update = g_main
    gates, cosines = [], []
    for a in self.aux:
      cos = self.cosines(g_main, J[a])
      gate = w[a] * self.gate(cos)
      if present is not None:
        here = tf.cast(present[a], J.dtype)
        gate = here * tf.where(self.main_present(present), gate,
                               w[a] * tf.ones_like(gate))
        cos = here * cos
      update += self.to_columns(gate, J[a]) * J[a]
      gates.append(gate)
      cosines.append(cos)
    self.record(gates, cosines)
    return update


class CosineWeighted(Cosine):
  """`Cosine` with the weighted gate max(0, cos) (registered name)."""

  def __init__(self, per_layer: bool = True,
               name: Optional[str] = "cosine_weighted"):
    super().__init__(weighted=True, per_layer=per_layer, name=name)
