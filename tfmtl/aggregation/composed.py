"""A loss weighting and a gradient aggregation together (`uncertainty+pcgrad`)."""

import tensorflow as tf

from tfmtl.aggregation.base import Aggregator, Need, state
from tfmtl.errors import UserError


class Composed(Aggregator):
  r"""Weight the task losses, then aggregate the weighted gradients.

  With a weighting W (tfmtl.weighting) and an aggregator A
  (tfmtl.aggregation), one step is

    w = W(L, step)                           the weighting's task weights [T]
    J' = diag(w) J,   J_t = ∇_θs L_t        rows scaled before A sees them
    d_shared = A(J', extras)                 A's own rule, on J'
    d_θt = w_t ∇_θt L_t                      task-specific variables
    d_φ = ∇_φ (Σ_t w_t(φ) L_t + R_W(φ))      W's own trainable variables φ
                                             (uncertainty's log-variances),
                                             with L_t held constant

  then W.update(L, step, **stats) as after a loss-level step. So
  `fixed+pcgrad` is PCGrad on the configured-weight gradients w_t g_t, and
  `uncertainty+pcgrad` PCGrad on exp(−s_t)/2 · g_t while s learns as in
  Kendall et al. A's configured task weights are not used (W's weights
  replace them). Both parts' state lives in this module, so the checkpoint
  keeps it; a skipped (non-finite) step rolls both back.

  Weightings that need gradient norms of a shared layer (gradnorm,
  pseudo_gradnorm) are refused: their norms are of unweighted task
  gradients, which this step doesn't form separately; dtp (KPIs) works.
  Representation-level aggregators are refused too.
  """

  def __init__(self, weighting, aggregator, name=None):
    super().__init__(name=name or "composed")
    if Need.GRAD_NORMS in weighting.needs:
      raise UserError(
          f"{type(weighting).__name__} can't be composed with an "
          "aggregation (it reads gradient norms of a shared layer); use it "
          "alone")
    if Need.REPRESENTATION in aggregator.needs:
      raise UserError(
          f"{type(aggregator).__name__} works on the representation and "
          "can't be composed with a weighting")
    self.weighting = weighting
    self.aggregator = aggregator

  def resolve_needs(self, options):
    """The aggregation's needs and the weighting's weights (the parts are
    this method's options)."""
    return frozenset(options["aggregator"].needs | {Need.LOSS_WEIGHTS})

  @property
  def xla_ok(self):
    return self.weighting.xla_ok and self.aggregator.xla_ok

  @property
  def xla_reason(self):
    return self.weighting.xla_reason or self.aggregator.xla_reason

  def build(self, tasks, num_params=None, shared_variables=None):
    super().build(tasks, num_params, shared_variables)
    self.weighting.build(tasks)
    self.aggregator.build(tasks, num_params=num_params,
                          shared_variables=shared_variables)
    self.loss_weights = state(tf.ones([len(tasks)]), "loss_weights")

  # Absent tasks: the weighting hears of them from the step; the
  # aggregation leaves their rows out (absent.py).
  handles_absent = True

  def __call__(self, J, loss_weights=None, present=None, **extra):
    if loss_weights is None:  # a direct call: the weighting's last weights
      loss_weights = self.weights_for(J)
    else:
      self.loss_weights.assign(tf.cast(loss_weights, tf.float32))
    scaled = tf.cast(loss_weights, J.dtype)[:, None] * J
    return self.aggregator.combine(scaled, present=present, **extra)

  def weights_for(self, J):
    if not hasattr(self, "loss_weights"):
      return super().weights_for(J)
    return tf.cast(self.loss_weights, J.dtype)

  def logs(self):
    return {**self.weighting.logs(), **self.aggregator.logs()}

  def setup(self):
    return "; ".join(filter(None, (self.weighting.setup(),
                                   self.aggregator.setup())))


def split_name(name: str):
  """("uncertainty", "pcgrad") from "uncertainty+pcgrad", else None."""
  if "+" not in name:
    return None
  parts = name.split("+")
  if len(parts) != 2 or not all(parts):
    raise UserError(f"method {name!r}: compose one weighting and one "
                    "aggregation as WEIGHTING+AGGREGATION, e.g. "
                    "uncertainty+pcgrad")
  return parts
