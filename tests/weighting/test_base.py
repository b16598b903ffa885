"""The weightings' shared helpers (tfmtl/weighting/base.py) at the edges
where a wrong formula coincides with the right one elsewhere (one present
task, none, all), `fixed`'s given weights, and what each stateful method
logs (the task each value is of)."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl import losses, weighting
from tfmtl.tasks import Task
from tfmtl.weighting import base


def _tasks(*names):
  return [Task(n, losses.mse) for n in names]


def test_masked_mean_over_one_two_and_no_present_tasks():
  x = tf.constant([2.0, 5.0, 11.0])
  for mask, want in (([False, True, False], 5.0),  # one task: its value
                     ([True, False, True], 6.5),
                     ([True] * 3, 6.0),
                     ([False] * 3, 0.0)):
    got = float(base.masked_mean(x, tf.constant(mask)))
    assert got == want, mask
    assert float(base.num_present(tf.constant(mask), 3)) == sum(mask)
  assert float(base.masked_mean(x, None)) == 6.0
  assert base.num_present(None, 3) == 3.0


def test_masked_softmax_over_one_two_and_no_present_tasks():
  x = tf.constant([0.3, -1.2, 2.0])
  np.testing.assert_array_equal(
      base.masked_softmax(x, tf.constant([False, True, False])), [0, 1, 0])
  e = np.exp([0.3, 2.0])
  np.testing.assert_allclose(
      base.masked_softmax(x, tf.constant([True, False, True])),
      [e[0] / e.sum(), 0.0, e[1] / e.sum()], rtol=1e-6)
  np.testing.assert_array_equal(
      base.masked_softmax(x, tf.constant([False] * 3)), [0, 0, 0])
  np.testing.assert_array_equal(
      base.masked_softmax(x, tf.constant([True] * 3)), tf.nn.softmax(x))


def test_renormalise_present_keeps_the_absent_tasks_share():
  old = tf.constant([0.5, 1.7, 0.8])  # Σ = 3
  w = tf.constant([2.0, 9.0, 6.0])    # the present tasks' new, unnormalised
  got = base.renormalise_present(w, old, tf.constant([True, False, True]), 3)
  # a and c had 1.3 between them; they keep it in the ratio 2 : 6.
  np.testing.assert_allclose(got, [1.3 * 2 / 8, 1.7, 1.3 * 6 / 8], rtol=1e-6)
  one = base.renormalise_present(w, old, tf.constant([False, False, True]), 3)
  np.testing.assert_allclose(one, [0.5, 1.7, 0.8], rtol=1e-6)
  np.testing.assert_allclose(base.renormalise_present(w, old, None, 3),
                             3 * np.array([2, 9, 6]) / 17, rtol=1e-6)
  np.testing.assert_array_equal(
      base.keep(tf.constant([True, False, True]), w, old),
      np.float32([2.0, 1.7, 6.0]))
  np.testing.assert_array_equal(
      base.zero_absent(tf.constant([np.nan, np.inf, 1.0]),
                       tf.constant([False, False, True])), [0, 0, 1])


def test_fixed_uses_the_given_weights_else_the_tasks():
  tasks = [Task("a", losses.mse, weight=2.0), Task("b", losses.mse)]
  method = weighting.get("fixed", weights=[1.0, 10.0])
  method.build(tasks)
  np.testing.assert_array_equal(method(tf.ones([2]), 0), [1.0, 10.0])
  default = weighting.get("fixed")
  default.build(tasks)
  np.testing.assert_array_equal(default(tf.ones([2]), 0), [2.0, 1.0])


@pytest.mark.parametrize("loss, form", [
    ("sparse_ce", "classification"),
    ("bce", "classification"),
    ("categorical_crossentropy", "classification"),
    ("binary_crossentropy", "classification"),
    ("mse", "regression"), ("l1", "regression"), ("huber", "regression"),
    ("masked_l1", "regression"),
])
def test_uncertainty_form_from_each_loss_family(loss, form):
  method = weighting.get("uncertainty")
  method.build([Task("t", loss), Task("r", losses.mse)])
  assert method.forms() == {"t": form, "r": "regression"}
  scale = 1.0 if form == "classification" else 0.5
  method.log_var.assign([np.log(4.0), np.log(2.0)])
  np.testing.assert_allclose(method(tf.ones([2]), 0), [scale / 4, 0.25],
                             rtol=1e-6)


def test_dtp_weight_at_the_kpi_edges():
  """κ̄ = 1: a solved task weighs exactly 0; κ̄ = 0 is clamped at 1e-8
  inside the log: −log 1e-8 (times (1 − 1e-8)^γ ≈ 1)."""
  method = weighting.get("dtp", gamma=2.0)
  method.build([Task(n, losses.mse, kpi=lambda y, p: 0.5) for n in "ab"])
  method.update(tf.ones([2]), 0, kpis=tf.constant([1.0, 0.0]))
  w = method(tf.ones([2]), 0).numpy()
  assert w[0] == 0.0
  np.testing.assert_allclose(w[1], -np.log(1e-8), rtol=1e-6)


def test_gradnorm_floors_a_weight_before_renormalising():
  """One SGD step drives b's weight to 1 − 0.5·3 = −0.5: it is floored at
  min_weight (0.01 here) before Σw = T, not renormalised negative."""
  method = weighting.get("gradnorm", alpha=1.0, lr=0.5, optimizer="sgd",
                         min_weight=0.01)
  method.build(_tasks("a", "b"))
  # First step: r = 1, G = (1, 3), target 2: ∂ = sign(G − 2)·norms
  # = (−1, 3); w = (1.5, −0.5) → floored (1.5, 0.01) → ×2/1.51.
  method.update(tf.constant([1.0, 1.0]), 0,
                grad_norms=tf.constant([1.0, 3.0]))
  np.testing.assert_allclose(method.w.numpy(),
                             np.array([1.5, 0.01]) * 2 / 1.51, rtol=1e-6)


def test_logs_name_each_task_value():
  """Every stateful weighting's logs, with distinct per-task state: each
  name carries its own task's value."""
  names = ("a", "b", "c")
  logit = np.array([0.2, -0.5, 1.1], np.float32)

  def built(name, **kwargs):
    method = weighting.get(name, **kwargs)
    method.build([Task(n, losses.mse, kpi=lambda y, p: 0.5) for n in names])
    return method

  dtp = built("dtp")
  dtp.kpi.assign([0.1, 0.2, 0.3])
  unc = built("uncertainty")
  unc.log_var.assign(logit)
  imtl = built("imtl_l")
  imtl.log_scale.assign(logit)
  famo = built("famo")
  famo.logits.assign(logit)
  stch = built("stch", nadir=[1.5, 2.5, 3.5])
  z = np.exp(logit) / np.exp(logit).sum()
  for method, key, want in (
      (dtp, "kpi", [0.1, 0.2, 0.3]), (unc, "sigma2", np.exp(logit)),
      (imtl, "scale", np.exp(logit)), (famo, "famo_z", z),
      (stch, "nadir", [1.5, 2.5, 3.5])):
    logs = method.logs()
    got = [float(logs[f"{key}/{n}"]) for n in names]
    np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=key)
