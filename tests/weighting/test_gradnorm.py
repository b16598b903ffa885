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


def _libmtl_gradnorm_loss(s, norms, losses_now, l0, alpha, target=None):
  """numpy transcription of LibMTL/weighting/GradNorm.py's L_grad (epoch ≥ 1):
  w = T·softmax(s), G_t = ‖w_t g_t‖ = w_t ‖g_t‖, L̃_t = L_t / L_t(0),
  r = L̃ / mean L̃, target = mean(G)·r^α (detached: pass it back in to hold
  it), L_grad = Σ_t |G_t − target_t|. Returns (L_grad, target, w)."""
  t = len(s)
  e = np.exp(s - s.max())
  w = t * e / e.sum()
  g = w * norms
  ratio = losses_now / l0
  r = ratio / ratio.mean()
  if target is None:
    target = g.mean() * r ** alpha
  return np.abs(g - target).sum(), target, w


def test_documented_comparison_with_libmtl():
  """LibMTL/weighting/GradNorm.py: what agrees and what differs (by design;
  see tfmtl/weighting/gradnorm.py's docstring).

  Agrees: given the weights w, the gradient norms, the losses and L(0),
  LibMTL's L_grad (target held constant) has ∂L_grad/∂w_t = sign(G_t −
  target_t)·‖g_t‖, the gradient our update applies: one SGD step of ours
  (then renormalised to Σw = T) is w − lr·∂L_grad/∂w, with ∂L_grad/∂w taken
  numerically from the transcription (float64 central differences).

  Differs: (1) LibMTL learns logits s with w = T·softmax(s) (Σw = T
  always; the step on s goes through the softmax's Jacobian), we learn w
  and renormalise: after one SGD step of the same size the weights differ
  (checked: both sum to T; here even the direction of task c's change
  differs, as the softmax's Jacobian and our renormalisation mix the
  tasks' gradients differently); (2) LibMTL uses equal weights and no update in epoch 0,
  and L(0) is epoch 0's mean loss; we update from the first step with
  L(0) the first step's losses (here L(0) is set as LibMTL's); (3) LibMTL
  takes ‖g_t‖ over all shared parameters (rep_grad off), we over the last
  shared layer W, as the paper (the norms are inputs here).
  """
  rng = np.random.default_rng(10)
  t, alpha, lr = 3, 1.5, 0.05
  s = rng.normal(size=t)
  norms = rng.uniform(0.5, 3.0, size=t)
  l0 = rng.uniform(1.0, 3.0, size=t)
  losses_now = l0 * rng.uniform(0.3, 1.0, size=t)
  value, target, w = _libmtl_gradnorm_loss(s, norms, losses_now, l0, alpha)

  # ∂L_grad/∂w from the transcription, with the target held constant.
  def l_grad_of_w(wv):
    return np.abs(wv * norms - target).sum()
  h = 1e-6
  grad_w = np.array([(l_grad_of_w(w + h * e) - l_grad_of_w(w - h * e)) /
                     (2 * h) for e in np.eye(t)])
  np.testing.assert_allclose(grad_w, np.sign(w * norms - target) * norms,
                             rtol=1e-6)
  assert value > 0.1

  from tfmtl.tasks import Task  # pylint: disable=import-outside-toplevel
  from tfmtl import losses  # pylint: disable=import-outside-toplevel
  method = weighting.get("gradnorm", alpha=alpha, lr=lr, optimizer="sgd")
  method.build([Task(n, losses.mse) for n in "abc"])
  method.w.assign(w.astype(np.float32))
  method.initial_losses.assign(l0.astype(np.float32))  # LibMTL's L(0)
  method.initialised.assign([True] * t)
  method.update(tf.constant(losses_now, tf.float32), 1,
                grad_norms=tf.constant(norms, tf.float32))
  ours = w - lr * grad_w
  ours = t * ours / ours.sum()
  np.testing.assert_allclose(method.w.numpy(), ours, rtol=1e-5, atol=1e-5)

  # (1): LibMTL's SGD step on s, through the softmax.
  p = w / t
  grad_s = t * (np.diag(p) - np.outer(p, p)) @ grad_w
  _, _, w_libmtl = _libmtl_gradnorm_loss(s - lr * grad_s, norms, losses_now,
                                         l0, alpha)
  np.testing.assert_allclose(w_libmtl.sum(), t, rtol=1e-12)
  np.testing.assert_array_equal(np.sign(w_libmtl - w), [1, -1, 1])
  np.testing.assert_array_equal(np.sign(ours - w), [1, -1, -1])


def _gradnorm_reference(s, losses, norms, present, alpha, lr, opt,
                        floor=1e-4):
  """One update of GradNorm in numpy on the present tasks only (the P-task
  problem), their total weight kept; per-task L(0) and Adam counts."""
  p = np.asarray(present)
  s["l0"] = np.where(p & ~s["init"], losses, s["l0"])
  s["init"] = s["init"] | p
  w = s["w"]
  g = w * norms
  ratio = losses / s["l0"]
  r = ratio / ratio[p].mean()
  target = g[p].mean() * r ** alpha
  grad = np.sign(g - target) * norms
  if opt == "sgd":
    new = w - lr * grad
  else:
    s["n"] = np.where(p, s["n"] + 1, s["n"])
    s["m"] = np.where(p, 0.9 * s["m"] + 0.1 * grad, s["m"])
    s["v"] = np.where(p, 0.999 * s["v"] + 0.001 * grad ** 2, s["v"])
    with np.errstate(divide="ignore", invalid="ignore"):
      m_hat = s["m"] / (1 - 0.9 ** s["n"])
      v_hat = s["v"] / (1 - 0.999 ** s["n"])
      new = w - lr * m_hat / (np.sqrt(v_hat) + 1e-8)
  new = np.maximum(new, floor)
  s["w"] = np.where(p, w[p].sum() * new / new[p].sum(), w)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_absent_task_is_left_out_of_the_step(opt):
  """Task b absent at the first step (no L_b(0) yet) and at the third:
  each update is GradNorm's on the present tasks with their total weight
  kept; b's weight, L(0) and Adam state stay, and its L(0) is set at its
  first present step; its Adam count counts its own updates."""
  from tfmtl.tasks import Task  # pylint: disable=import-outside-toplevel
  from tfmtl import losses as tl  # pylint: disable=import-outside-toplevel
  alpha, lr = 1.5, 0.05
  method = weighting.get("gradnorm", alpha=alpha, lr=lr, optimizer=opt)
  method.build([Task(n, tl.mse) for n in "abc"])
  w0 = np.array([0.8, 1.5, 0.7], np.float32)
  method.w.assign(w0)
  s = dict(w=w0.astype(np.float64), l0=np.ones(3), init=np.zeros(3, bool),
           m=np.zeros(3), v=np.zeros(3), n=np.zeros(3))
  rng = np.random.default_rng(4)
  masks = [[True, False, True], [True] * 3, [True, False, True], [True] * 3]
  for k, mask in enumerate(masks):
    losses = np.where(mask, rng.uniform(0.5, 3.0, size=3), 0.0)
    norms = np.where(mask, rng.uniform(0.5, 3.0, size=3), 0.0)
    before_b = [float(method.w[1]), float(method.initial_losses[1]),
                float(method.m[1]), float(method.v[1]),
                float(method.count[1])]
    method.update(tf.constant(losses, tf.float32), k,
                  grad_norms=tf.constant(norms, tf.float32),
                  present=tf.constant(mask))
    _gradnorm_reference(s, losses, norms, mask, alpha, lr, opt)
    np.testing.assert_allclose(method.w.numpy(), s["w"], rtol=1e-5,
                               err_msg=f"step {k}")
    np.testing.assert_allclose(method.w.numpy().sum(), 3.0, rtol=1e-6)
    if not mask[1]:
      assert before_b == [float(method.w[1]), float(method.initial_losses[1]),
                          float(method.m[1]), float(method.v[1]),
                          float(method.count[1])], k
  np.testing.assert_allclose(method.initial_losses.numpy(), s["l0"],
                             rtol=1e-6)
  assert s["l0"][1] != 1.0  # b's L(0): its losses at step 1
  if opt == "adam":
    np.testing.assert_array_equal(method.count.numpy(), [4, 2, 4])
