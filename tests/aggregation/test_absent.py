"""aggregation/absent.py: a method with an absent task is the method on the
present tasks alone.

For every stateless aggregator (and every Gramian-based one, whose only
state logs its weights): `combine(J, present)` on four tasks with b absent
(its row zero) equals the same method built on a, c, d and applied to their
rows — the zero row is left out, not treated as a gradient. Task weights
differ per task, so a misaligned restriction would show.
"""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl import aggregation
from tfmtl.aggregation.auxiliary import AuxiliaryAggregator
from tfmtl.aggregation.base import Aggregator
from tfmtl.aggregation.solvers import GramianWeighted
from tfmtl.tasks import Task

NAMES = "abcd"
WEIGHTS = (1.0, 0.5, 0.8, 1.3)
N = 7


def _tasks(names):
  return [Task(n, lambda y, p: p, weight=WEIGHTS[NAMES.index(n)])
          for n in names]


def _stateless(name):
  method = aggregation.get(name)
  if (getattr(method, "batches_per_step", 1) > 1 or
      isinstance(method, AuxiliaryAggregator)):  # roles: their own tests
    return False
  method.build(_tasks(NAMES), num_params=N)
  state = [v for v in method.variables if "alpha" not in v.name]
  return not state and (isinstance(method, GramianWeighted)
                        or not method.handles_absent)


STATELESS = [n for n in aggregation.AGGREGATORS.names() if _stateless(n)]


def _extra(method, rows):
  extra = {"losses": tf.gather([0.7, 0.0, 1.9, 0.4], rows),
           "step": tf.constant(3, tf.int64)}
  return {k: extra[k] for k in method.needs if k in extra}


def test_the_stateless_list_is_the_expected_one():
  # A method that gains state must handle absent tasks itself: it would
  # drop out of this list and fail tests/test_methods_contract.py.
  assert {"mgda", "pcgrad", "cagrad", "upgrad", "imtl", "nash_mtl", "krum",
          "trimmed_mean", "graddrop", "sum", "mean", "aligned_mtl",
          "dualproj", "fairgrad", "conflict_free"} <= set(STATELESS)


@pytest.mark.parametrize("name", STATELESS)
def test_an_absent_row_is_left_out(name):
  rng = np.random.default_rng(4)
  J = rng.normal(size=(4, N)).astype(np.float32)
  J[1] = 0.0  # task b: no labelled example, no gradient
  present = tf.constant([True, False, True, True])
  full = aggregation.get(name)
  full.build(_tasks(NAMES), num_params=N)
  got = full.combine(tf.constant(J), present=present,
                     **_extra(full, [0, 1, 2, 3]))
  alone = aggregation.get(name)
  alone.build(_tasks("acd"), num_params=N)
  want = alone(tf.constant(J[[0, 2, 3]]), **_extra(alone, [0, 2, 3]))
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  if isinstance(full, GramianWeighted):  # logged weights: 0 for b
    np.testing.assert_allclose(np.asarray(full.alpha)[[0, 2, 3]],
                               np.asarray(alone.alpha), rtol=1e-5, atol=1e-6)
    assert float(full.alpha[1]) == 0.0


def test_a_zero_row_is_not_left_out_without_present():
  # Why the reduction exists: MGDA's min-norm point sits on a zero row.
  J = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]], np.float32)
  mgda = aggregation.get("mgda")
  np.testing.assert_allclose(mgda(tf.constant(J)), [0.0, 0.0], atol=1e-7)
  present = tf.constant([True, False, True])
  d = mgda.combine(tf.constant(J), present=present).numpy()
  # The 2-task min-norm point of (1, 0) and (0, 2): weights (0.8, 0.2),
  # w ∝ 1/G_tt; exactly that of the solver's problem, G / mean(diag G) =
  # diag(0.4, 1.6) plus its ridge 1e-6 (which moves w by 1.5e-6). float32
  # round-off of the 3×3 KKT solve (condition ~4): ≲ 5e-7 (measured
  # 1.5e-7); checked at 5e-6 relative.
  a, b = 1 / (0.4 + 1e-6), 1 / (1.6 + 1e-6)
  np.testing.assert_allclose(d, [a / (a + b), 2 * b / (a + b)], rtol=5e-6)


def test_fewer_tasks_than_the_rule_needs_fall_back_to_the_mean():
  # Krum (f = 0) needs 3 tasks; with 2 present: weighted mean of theirs.
  rng = np.random.default_rng(5)
  J = rng.normal(size=(3, N)).astype(np.float32)
  J[2] = 0.0
  krum = aggregation.get("krum")
  krum.build(_tasks("abc"), num_params=N)
  d = krum.combine(tf.constant(J), present=tf.constant([True, True, False]))
  np.testing.assert_allclose(d, (1.0 * J[0] + 0.5 * J[1]) / 2, rtol=1e-6)
  # One present task (b, weight 0.5): the mean over one row is w_b g_b;
  # trimmed_mean (k = 1 needs 3) likewise with a present.
  d = krum.combine(tf.constant(J), present=tf.constant([False, True, False]))
  np.testing.assert_allclose(d, 0.5 * J[1], rtol=1e-6)
  trimmed = aggregation.get("trimmed_mean")
  trimmed.build(_tasks("abc"), num_params=N)
  d = trimmed.combine(tf.constant(J), present=tf.constant([True, False,
                                                           False]))
  np.testing.assert_allclose(d, 1.0 * J[0], rtol=1e-6)


def test_no_task_present_is_no_gradient():
  J = tf.zeros([3, N])
  for name in ("mgda", "pcgrad", "sum"):
    method = aggregation.get(name)
    method.build(_tasks("abc"), num_params=N)
    d = method.combine(J, present=tf.constant([False] * 3))
    np.testing.assert_array_equal(d, np.zeros(N))


def test_representation_weights_leave_the_absent_task_out():
  # MGDA-UB's weights come from the representation Gramian alone.
  rng = np.random.default_rng(6)
  Z = rng.normal(size=(3, 5)).astype(np.float32)
  Z[0] = 0.0
  G = tf.constant(Z @ Z.T)
  ub = aggregation.get("mgda_ub")
  ub.build(_tasks("abc"), num_params=N)
  w = ub.weights_from_gramian(G, present=tf.constant([False, True, True]))
  ref = aggregation.get("mgda_ub")
  ref.build(_tasks("bc"), num_params=N)
  want = ref.weights_from_gramian(tf.constant(Z[1:] @ Z[1:].T))
  np.testing.assert_allclose(w.numpy(), [0.0] + list(want.numpy()),
                             rtol=1e-5, atol=1e-7)
  assert isinstance(ub, Aggregator)
