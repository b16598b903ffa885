"""PCGrad: the paper's no-conflict property."""

import itertools

import numpy as np
import tensorflow as tf

from tfmtl.aggregation.pcgrad import PCGrad


def test_no_conflict_with_any_task_two_tasks():
  # Yu et al. 2020 §3: after surgery of two conflicting gradients the sum
  # has a non-negative inner product with each.
  rng = np.random.default_rng(0)
  hits = 0
  for _ in range(30):
    J = rng.normal(size=(2, 5)).astype(np.float32)
    if J[0] @ J[1] >= 0:
      continue
    hits += 1
    d = PCGrad()(tf.constant(J)).numpy()
    assert np.all(J @ d >= -1e-5)
  assert hits > 5


def test_non_conflicting_is_sum_and_average_is_permutation_invariant():
  J = np.abs(np.random.default_rng(1).normal(size=(3, 4))).astype(np.float32)
  np.testing.assert_allclose(PCGrad()(tf.constant(J)), J.sum(0), rtol=1e-6)
  J = np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32)
  a = PCGrad()(tf.constant(J)).numpy()
  b = PCGrad()(tf.constant(J[[2, 0, 1]])).numpy()
  np.testing.assert_allclose(a, b, atol=1e-5)


def test_randomised_is_keyed_on_seed_and_step():
  J = tf.constant(np.random.default_rng(3).normal(size=(4, 6)), tf.float32)
  agg = PCGrad(randomised=True, seed=1)
  assert agg.needs == {"step"}
  np.testing.assert_array_equal(agg(J, step=3), agg(J, step=3))
  fn = tf.function(lambda j, s: agg(j, step=s))
  np.testing.assert_allclose(fn(J, tf.constant(3)), agg(J, step=3), atol=1e-6)


def _libmtl_pcgrad(J, orders, visit_self=True):
  """numpy transcription of LibMTL/weighting/PCGrad.py: for each task i, in
  the order orders[i] (a permutation of all T tasks; LibMTL shuffles it with
  `random.shuffle`, i itself included), project g_i^PC off every g_j it
  conflicts with; d = Σ_i g_i^PC."""
  pc = J.copy()
  for i in range(J.shape[0]):
    for j in orders[i]:
      if j == i and not visit_self:
        continue
      g_ij = pc[i] @ J[j]
      if g_ij < 0:
        pc[i] = pc[i] - g_ij * J[j] / (J[j] @ J[j] + 1e-8)
  return pc.sum(0)


def test_randomised_step_matches_libmtl():
  """LibMTL/weighting/PCGrad.py, one step on random J, with LibMTL's order
  replaced by ours: row i of argsort(stateless_uniform([T, T], (seed,
  step))), a permutation of all T tasks, i included, as LibMTL's shuffle.

  Where i comes first in its order, its self-visit is a no-op in LibMTL
  (g_iᵀg_i > 0) and the two agree exactly. Later in the order, LibMTL can
  project g_i^PC off g_i itself (g_i^PCᵀg_i < 0 is possible after two or
  more projections: on ~6% of random 4×3 J with random orders); we skip
  j = i as the paper's Algorithm 1 (j ≠ i). The test checks agreement with
  LibMTL's self-visit skipped, and with LibMTL unchanged when i is moved to
  the front of its order.
  """
  rng = np.random.default_rng(0)
  t, seed = 4, 3
  agg = PCGrad(randomised=True, seed=seed)
  for step in range(20):
    J = rng.normal(size=(t, 6))
    got = agg(tf.constant(J, tf.float32), step=step).numpy()
    key = tf.constant([seed, step], tf.int64)
    orders = tf.argsort(tf.random.stateless_uniform([t, t], key),
                        axis=-1).numpy()
    want = _libmtl_pcgrad(J, orders, visit_self=False)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5,
                               err_msg=f"step {step}")
    # With i moved to the front of its order, LibMTL's self-visit is a
    # no-op: LibMTL's update itself, exactly.
    front = np.array([[i] + [j for j in orders[i] if j != i]
                      for i in range(t)])
    np.testing.assert_allclose(got, _libmtl_pcgrad(J, front), rtol=1e-5,
                               atol=1e-5)


def test_averaged_default_is_libmtl_averaged_over_orders():
  """LibMTL/weighting/PCGrad.py: our deterministic default equals LibMTL's
  update averaged over every order of the other tasks (i first, where its
  self-visit is a no-op), T = 3: (T−1)! = 2 orders per task."""
  rng = np.random.default_rng(1)
  for _ in range(5):
    J = rng.normal(size=(3, 5))
    want = np.zeros(5)
    for perm in itertools.product(*[list(itertools.permutations(
        [j for j in range(3) if j != i])) for i in range(3)]):
      orders = [[i] + list(perm[i]) for i in range(3)]
      want += _libmtl_pcgrad(J, orders)
    # Σ_i of per-task averages = average over the product of per-task orders.
    want /= 2 ** 3
    np.testing.assert_allclose(PCGrad()(tf.constant(J, tf.float32)), want,
                               rtol=1e-5, atol=1e-5)


def test_randomised_never_projects_a_task_off_itself():
  """Steps where LibMTL's self-visit (i late in its own order, g_i^PCᵀg_i
  < 0 after two projections) changes the update: ours is the paper's
  (j ≠ i), so it equals LibMTL with the self-visit skipped and differs
  from LibMTL's own there. Searched over random 4×3 J (~6% of steps)."""
  rng = np.random.default_rng(11)
  t, seed, found = 4, 2, 0
  agg = PCGrad(randomised=True, seed=seed)
  for step in range(400):
    J = rng.normal(size=(t, 3))
    key = tf.constant([seed, step], tf.int64)
    orders = tf.argsort(tf.random.stateless_uniform([t, t], key),
                        axis=-1).numpy()
    skip = _libmtl_pcgrad(J, orders, visit_self=False)
    visit = _libmtl_pcgrad(J, orders, visit_self=True)
    if np.abs(skip - visit).max() < 1e-2:
      continue
    found += 1
    got = agg(tf.constant(J, tf.float32), step=step).numpy()
    np.testing.assert_allclose(got, skip, rtol=1e-5, atol=1e-5)
    if found == 3:
      break
  assert found == 3


def test_cyclic_orders_above_max_orders():
  """(T−1)! > max_orders: g_i^PC is averaged over the T−1 rotations of
  the other tasks' list (T = 4: 3 orders a task instead of 6)."""
  rng = np.random.default_rng(12)
  J = rng.normal(size=(4, 5))
  want = np.zeros(5)
  for i in range(4):
    others = [j for j in range(4) if j != i]
    for k in range(3):
      order = others[k:] + others[:k]
      pc = J[i].copy()
      for j in order:
        if pc @ J[j] < 0:
          pc = pc - (pc @ J[j]) / (J[j] @ J[j]) * J[j]
      want += pc / 3
  got = PCGrad(max_orders=5)(tf.constant(J, tf.float32)).numpy()
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  full = PCGrad()(tf.constant(J, tf.float32)).numpy()
  assert np.abs(full - want).max() > 1e-3  # the rotations are not all 6
