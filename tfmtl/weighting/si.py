"""Scale-invariant loss: Σ_t log L_t (the Nash-MTL repository's baseline)."""

import tensorflow as tf

from tfmtl.weighting.base import Weighting

EPS = 1e-20  # losses are clamped here before the division


class ScaleInvariant(Weighting):
  r"""Sum of the log losses, invariant to a rescaling of any task's loss.

    S(L) = Σ_t c_t log L_t

  with c_t the configured task weights (1 by default). The step
  back-propagates Σ_t w_t L_t with the weights held constant, so the weights
  are the exact gradient of S with respect to the losses:

    w_t = ∂S/∂L_t = c_t / L_t

  and Σ_t w_t ∇L_t = ∇S. Replacing L_t by a·L_t leaves ∇S unchanged
  (∇ log(a L_t) = ∇ log L_t): this is the sense of "scale-invariant".
  Losses are clamped at 1e-20 (S is defined for positive losses only).

  Output scale: sum convention (each task's gradient divided by its loss,
  summed over tasks).

  Versus the reference (nash-mtl `methods/weight_methods.py`,
  `ScaleInvariantLinearScalarization`: `sum(log(losses) * task_weights)`):
  the same function and gradient; the clamp is ours. LibMTL and TorchJD do
  not have it (LibMTL's STCH uses it as its warm-up objective, `stch` here).

  Absent tasks (no labelled example in a step, `present`): S is the sum
  over the present tasks, whose weights c_t / L_t are unchanged by an
  absent one; an absent task (L_t = 0, log undefined) is left out of S:
  the step zeroes its weight. Nothing per task is kept, so the method
  needs no `present`.

  References:
    Navon et al. "Multi-Task Learning as a Bargaining Game", ICML 2022,
    the "SI" baseline of its experiments; reference code
    github.com/AvivNavon/nash-mtl.
  """

  def __init__(self, name="si"):
    super().__init__(name=name)

  def __call__(self, losses, step):
    del step
    return tf.cast(self.task_weights, losses.dtype) / tf.maximum(losses, EPS)
