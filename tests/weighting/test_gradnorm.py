"""GradNorm on the paper's toy (Chen et al. 2018, §4)."""

import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import batches, eval_losses, toy_setup
from tfmtl import weighting

STEPS = 1200


def _run(method, sigmas):
  source, model, tasks, step = toy_setup(method, sigmas=sigmas, seed=0)
  initial = eval_losses(model, tasks, source)
  sums = []
  for x, y in batches(source, 100, STEPS):
    logs = step((x, y))
    if isinstance(method, weighting.GradNorm):
      sums.append(float(tf.reduce_sum(method.w)))
  final = eval_losses(model, tasks, source)
  normalised = sum(final[k] / initial[k] for k in final)
  return method, normalised, sums


@pytest.fixture(scope="module")
def two_tasks():
  gn = _run(weighting.get("gradnorm", alpha=0.12, lr=0.025), [1.0, 100.0])
  fixed = _run(weighting.get("fixed"), [1.0, 100.0])
  return gn, fixed


def test_weights_sum_to_task_count_every_step(two_tasks):
  (_, _, sums), _ = two_tasks
  np.testing.assert_allclose(sums, 2.0, rtol=1e-5)


def test_small_scale_task_gets_the_larger_weight(two_tasks):
  (method, _, _), _ = two_tasks
  w = method.w.numpy()
  assert w[0] > w[1], w


def test_lower_task_normalised_loss_than_equal_weights(two_tasks):
  (_, gn_loss, _), (_, fixed_loss, _) = two_tasks
  assert gn_loss < fixed_loss, (gn_loss, fixed_loss)


def test_ten_tasks_weights_ordered_inversely_to_sigma():
  sigmas = list(np.geomspace(1.0, 100.0, 10))
  method, _, _ = _run(weighting.get("gradnorm", alpha=0.12, lr=0.025),
                      sigmas)
  w = method.w.numpy()
  rank_w = np.argsort(np.argsort(w))
  rank_s = np.argsort(np.argsort(sigmas))
  spearman = np.corrcoef(rank_w, rank_s)[0, 1]
  assert spearman <= -0.8, (spearman, w)


def test_update_rule_by_hand():
  """One update with SGD, checked against eq. (2) worked out by hand."""
  from tfmtl.tasks import Task
  from tfmtl import losses
  method = weighting.get("gradnorm", alpha=1.0, lr=0.1, optimizer="sgd")
  method.build([Task("a", losses.mse), Task("b", losses.mse)])
  # First call fixes L(0) = losses, so r = 1 and target = mean(G) = 2.
  method.update(tf.constant([1.0, 1.0]), 0, grad_norms=tf.constant([1., 3.]))
  # G = (1, 3); target = (2, 2); dL/dw = sign(G - target) * norms = (-1, 3)
  # w = (1.1, 0.7) -> renormalised to sum 2: (1.1, 0.7) * 2 / 1.8
  np.testing.assert_allclose(method.w.numpy(),
                             np.array([1.1, 0.7]) * 2 / 1.8, rtol=1e-6)


def test_update_rule_at_a_nontrivial_alpha():
  """Second update (r ≠ 1) at α = 1.5: a swapped or dropped exponent shows."""
  from tfmtl.tasks import Task
  from tfmtl import losses
  method = weighting.get("gradnorm", alpha=1.5, lr=0.1, optimizer="sgd")
  method.build([Task("a", losses.mse), Task("b", losses.mse),
                Task("c", losses.mse)])
  l0 = np.array([1.0, 2.0, 4.0])
  method.update(tf.constant(l0, tf.float32), 0,
                grad_norms=tf.constant([1.0, 1.0, 1.0]))
  w = method.w.numpy().copy()            # (1, 1, 1): G = target at step 0
  losses_now = np.array([0.5, 1.5, 3.8])
  # Chosen so task c's sign(G - target) is − at α = 1.5 but + at α = 1 or
  # 1/1.5: the update rule is a sign, so a wrong exponent must flip one.
  norms = np.array([2.0, 0.5, 2.1])
  method.update(tf.constant(losses_now, tf.float32), 1,
                grad_norms=tf.constant(norms, tf.float32))
  g = w * norms
  ratio = losses_now / l0
  r = ratio / ratio.mean()
  target = g.mean() * r ** 1.5
  w = w - 0.1 * np.sign(g - target) * norms
  w = np.maximum(w, 1e-4)
  np.testing.assert_allclose(method.w.numpy(), 3 * w / w.sum(), rtol=1e-5)
