r"""MetaBalance: scale auxiliary gradients to the main gradient's norm.

Per shared layer L, with g_m = Σ_{t ∈ main} w_t g_t and moving averages of
the gradient norms (decay β, started at the first step's norms)

    m_m ← β m_m + (1 − β) ‖g_m‖_L,     m_a ← β m_a + (1 − β) ‖g_a‖_L
    λ_a,L = r · m_m / m_a + (1 − r)
    d = g_m + Σ_{a ∈ aux} λ_a ⊙ g_a

the auxiliary gradient on each layer gets (a relaxed version of) the main
gradient's magnitude: r = 1 sets it equal, r = 0 is the plain sum. It looks
at magnitudes only, never at directions: it can't detect a conflict, but it
keeps an auxiliary task from dominating (or vanishing) by its loss scale,
which the other gates (PRF, cosine) compare raw values and do not correct.
Output scale: a sum over tasks. Configured auxiliary weights are not used
(the paper's rule sets the auxiliary magnitude itself); main weights are.
Logs λ per layer as `gate/<layer>`.

Absent tasks (no labelled example in the step): the moving average of an
absent task's norm stays as it was (the main row's when no main task is
present; with several main tasks g_m is the present ones' sum), and each
average starts at the norm of the first step its task is present. An
absent auxiliary task contributes nothing and logs gate 0. When no main
task is present the present auxiliary gradients keep being scaled towards
the main gradient's average norm m_m from the steps it was present (λ = 1,
the plain sum, until the main task has been present once): the step
still learns from the auxiliary labels, at the magnitude the rule gives
them, rather than dropping them or switching to ATG's raw weights.

Where it differs from the reference code: the official implementation keeps
the norms per parameter tensor (kernel and bias separately) and starts the
moving averages at 0; here they are per layer (kernel + bias) and start at
the first norms, so the first steps are not scaled by the bias of a
zero-initialised average. The paper's "adapt all" strategy is implemented
(the others only apply λ when it shrinks or only when it enlarges).

References:
  He, Feng, Xia, Yan, Yu, Zhang, Chen. "MetaBalance: Improving Multi-Task
  Recommendations via Adapting Gradient Magnitudes of Auxiliary Tasks",
  WWW 2022 (Algorithm 1; relax factor r, moving-average decay β = 0.9).
"""

from typing import Dict, Optional, Sequence

import tensorflow as tf

from tfmtl.aggregation.auxiliary import AuxiliaryAggregator
from tfmtl.aggregation.base import state
from tfmtl.options import between

TINY = 1e-30


class MetaBalance(AuxiliaryAggregator):
  """Auxiliary gradients rescaled per layer towards the main one's norm.

  Args:
    relax: r in [0, 1], how far to move the auxiliary norm to the main's.
    decay: β of the moving averages of the norms, in [0, 1).
  """

  handles_absent = True  # see the docstring's absent tasks

  limits = {"relax": between(0.0, 1.0),
            "decay": between(0.0, 1.0, high_open=True)}

  def __init__(self, relax: float = 0.7, decay: float = 0.9,
               name="metabalance"):
    super().__init__(name=name)
    self.relax, self.decay = float(relax), float(decay)

  def build(self, tasks: Sequence, num_params: Optional[int] = None,
            shared_variables: Optional[Sequence] = None) -> None:
    super().build(tasks, num_params, shared_variables)
    self._norms = state(tf.zeros([1 + len(self.aux), self.num_layers]),
                        "norms")
    self._calls = state(0, "calls", dtype=tf.int64)
    # Steps each row (main, then each aux task) was present in.
    self._seen = state(tf.zeros([1 + len(self.aux)], tf.int64), "seen",
                       dtype=tf.int64)
    self._gates = self.log_state("gates")

  def __call__(self, J, present=None, **extra):
    w = self.weights_for(J)
    g_main = self.main_gradient(J, w, present)
    norms = tf.sqrt(tf.stack(
        [self.layer_sum(tf.square(g_main))] +
        [self.layer_sum(tf.square(J[a])) for a in self.aux]))
    if present is None:
      first = tf.equal(self._calls, 0)
      norms = tf.where(first, norms,
                       self.decay * self._norms + (1.0 - self.decay) * norms)
      rows = tf.ones([1 + len(self.aux)], tf.bool)
    else:
      rows = tf.concat([self.main_present(present)[None],
                        tf.gather(present, self.aux)], 0)
      first = tf.equal(self._seen, 0)[:, None]
      moved = tf.where(first, norms,
                       self.decay * self._norms + (1.0 - self.decay) * norms)
      norms = tf.where(rows[:, None], moved, self._norms)
    self._norms.assign(norms)
    self._calls.assign_add(1)
    self._seen.assign_add(tf.cast(rows, tf.int64))
    gates = (self.relax * norms[0] / tf.maximum(norms[1:], TINY) +
             (1.0 - self.relax))
    if present is not None:
      aux_here = tf.cast(tf.gather(present, self.aux), gates.dtype)[:, None]
      gates = aux_here * tf.where(self._seen[0] > 0, gates,
                                  tf.ones_like(gates))
    update = g_main
    for k, a in enumerate(self.aux):
      update += self.to_columns(gates[k], J[a]) * J[a]
    self._gates.assign(gates)
    return update

  def logs(self) -> Dict[str, tf.Tensor]:
    return self.per_layer_logs("gate", self._gates)
