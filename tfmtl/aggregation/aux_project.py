r"""Auxiliary gradient surgery: project out the part that conflicts.

With g_m = Σ_{t ∈ main} w_t g_t the main tasks' combined gradient, each
auxiliary gradient loses its component along g_m when the two conflict
(over all shared variables, or per shared layer L with `per_layer=True`):

    g_a' = g_a − min(0, ⟨g_a, g_m⟩_L) / ‖g_m‖²_L · g_m
    d    = g_m + Σ_{a ∈ aux} w_a g_a'

The main gradient is never altered (unlike PCGrad, which projects every task
onto every other): the auxiliary task may only add directions that do not
increase the main loss to first order, ⟨d, g_m⟩ ≥ ‖g_m‖². An agreeing
auxiliary gradient passes unchanged (ATG); an orthogonal part always passes.
Output scale: the configured weights', a sum over tasks (as ATG). Logs per
layer the cosine ⟨g_m, g_a⟩/(‖g_m‖‖g_a‖) as `cos/<layer>` and the fraction
of the auxiliary gradient's norm kept, ‖g_a'‖/‖g_a‖, as `gate/<layer>`.

Absent tasks (no labelled example in the step): an absent auxiliary task
contributes nothing and logs gate 0 and cos 0 (there is no state). An
absent main task leaves g_m (the present main tasks' sum). When no main
task is present, g_m = 0 has no component to remove: every present
auxiliary gradient passes whole at its configured weight (ATG), gate 1 —
the rule's own limit, and the step still learns from the auxiliary labels
(the projection protects the main loss, which has no gradient this step).

Where it differs from the reference: PCGrad (Yu et al.) projects each task
onto the others symmetrically; this is its one-sided form for a main task
with auxiliaries, where only the auxiliary gradient is altered. ATTITTUD
(Dery et al., ICLR 2021) generalises the idea to the span of per-example
main gradients at the price of a low-rank decomposition per step; this is
its one-direction special case, for the cost of two dot products a layer.

References:
  Yu, Kumar, Gupta, Levine, Hausman, Finn. "Gradient Surgery for Multi-Task
  Learning", NeurIPS 2020 (the projection of Algorithm 1).
  Dery, Dauphin, Grangier. "Auxiliary Task Update Decomposition: the Good,
  the Bad and the Neutral", ICLR 2021.
"""

import tensorflow as tf

from tfmtl.aggregation.auxiliary import GatedAuxiliary

TINY = 1e-30


class AuxProject(GatedAuxiliary):
  """Removes the conflicting component of auxiliary gradients.

  Args:
    per_layer: project per shared layer instead of over all shared
      variables (the paper's whole-vector form).
  """

  handles_absent = True  # see the docstring's absent tasks

  def __init__(self, per_layer: bool = False, name="aux_project"):
    super().__init__(name=name)
    self.per_layer = bool(per_layer)

  def project(self, g_main: tf.Tensor, g_aux: tf.Tensor) -> tf.Tensor:
    """g_aux without its component against g_main (per layer)."""
    dot = self.layer_sum(g_main * g_aux)
    sq = self.layer_sum(tf.square(g_main))
    coef = tf.minimum(dot, 0.0) / tf.maximum(sq, TINY)
    return g_aux - self.to_columns(coef, g_main) * g_main

  def __call__(self, J, present=None, **extra):
    w = self.weights_for(J)
    g_main = self.main_gradient(J, w, present)
    update = g_main
    gates, cosines = [], []
    main_norm = tf.sqrt(self.layer_sum(tf.square(g_main)))
    for a in self.aux:
      projected = self.project(g_main, J[a])
      norm = tf.sqrt(self.layer_sum(tf.square(J[a])))
      gate = (tf.sqrt(self.layer_sum(tf.square(projected))) /
              tf.maximum(norm, TINY))
      cos = self.layer_sum(g_main * J[a]) / tf.maximum(main_norm * norm, TINY)
      if present is None:
        update += w[a] * projected
      else:
        here = tf.cast(present[a], J.dtype)
        update += here * w[a] * projected
        gate = here * gate  # no main task present: g_m = 0, gate 1
        cos = here * cos
      gates.append(gate)
      cosines.append(cos)
    self.record(gates, cosines)
    return update
