"""(Multi-)Krum (Blanchard et al., NeurIPS 2017; TorchJD Krum)."""

import tensorflow as tf

from tfmtl.aggregation import solvers
from tfmtl.errors import UserError
from tfmtl.options import at_least


class Krum(solvers.GramianWeighted):
  r"""The mean of the m task gradients closest to their neighbours.

  With f = `n_byzantine` and m = `n_selected`, each g_i gets the score

    s_i = Σ_{j ∈ N_i} ‖g_i − g_j‖,

  N_i its T − f − 2 nearest other rows, and d is the mean of the m rows
  with the least scores: w_i = 1/m for them, 0 otherwise (ties go to the
  lower task index). Distances come from the Gramian,
  ‖g_i − g_j‖² = G_ii + G_jj − 2G_ij (clamped at 0). A Byzantine-robust
  aggregator: it tolerates f arbitrary rows when T ≥ 2f + 3; the rule is
  defined for T ≥ f + 3 (TorchJD's check, kept). Output scale: mean
  convention (mean of the selected rows). Configured task weights are
  ignored.

  Versus TorchJD (`Krum(n_byzantine, n_selected)`): the same rule and
  checks; TorchJD has no default f, this defaults to f = 0, m = 1 (the most
  central gradient; T ≥ 3), and clamps negative round-off in squared
  distances, where TorchJD's square root would give NaN.

  References:
    Blanchard, El Mhamdi, Guerraoui, Stainer. "Machine Learning with
    Adversaries: Byzantine Tolerant Gradient Descent", NeurIPS 2017
    (Krum and Multi-Krum).

  Args:
    n_byzantine: f ≥ 0, the number of rows that may be adversarial.
    n_selected: m ≥ 1, rows averaged (1: Krum; more: Multi-Krum).
  """

  limits = {"n_byzantine": at_least(0), "n_selected": at_least(1)}

  def __init__(self, n_byzantine: int = 0, n_selected: int = 1, name="krum"):
    super().__init__(name=name)
    self.n_byzantine, self.n_selected = int(n_byzantine), int(n_selected)

  @property
  def min_tasks(self):
    return max(self.n_byzantine + 3, self.n_selected)

  def _check(self, num_tasks):
    need = self.min_tasks
    if num_tasks < need:
      raise UserError(
          f"krum: n_byzantine = {self.n_byzantine}, n_selected = "
          f"{self.n_selected} need at least {need} tasks, got {num_tasks}")

  def build(self, tasks, num_params=None, shared_variables=None):
    self._check(len(tasks))
    super().build(tasks, num_params, shared_variables)

  def task_combination(self, G, J, **extra):
    t = G.shape[-1]
    self._check(t)
    sq = tf.linalg.diag_part(G)
    dist = tf.sqrt(tf.maximum(sq[:, None] + sq[None, :] - 2.0 * G, 0.0))
    # Self (distance 0) is excluded explicitly rather than by rank.
    big = tf.reduce_max(dist) * 2.0 + 1.0
    others = dist + big * tf.eye(t, dtype=G.dtype)
    nearest = -tf.math.top_k(-others, k=t - self.n_byzantine - 2).values
    scores = tf.reduce_sum(nearest, axis=1)
    chosen = tf.math.top_k(-scores, k=self.n_selected).indices
    return tf.reduce_sum(tf.one_hot(chosen, t, dtype=G.dtype),
                         axis=0) / self.n_selected
