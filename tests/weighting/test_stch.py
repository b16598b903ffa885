"""STCH: weights are the gradient of the smooth Tchebycheff scalarisation;
warm-up and nadir as LibMTL."""

import numpy as np
import pytest
import tensorflow as tf

from tests.weighting.scalarisation import (
    build, gradients_with_an_absent_task, weighted_and_true_gradients)
from tfmtl.errors import UserError
from tfmtl.weighting.stch import STCH


def test_weighted_gradient_is_the_gradient_of_the_scalarisation():
  for t, mu in ((2, 1.0), (3, 0.3), (5, 0.05)):
    nadir = np.linspace(0.5, 3.0, t).astype(np.float32)
    method = build(STCH(mu=mu, nadir=list(nadir)), t)

    def stch(losses, mu=mu, nadir=nadir, t=t):
      rel = tf.math.log(losses / nadir + 1e-20)
      return t * mu * tf.reduce_logsumexp(rel / mu)

    got, want = weighted_and_true_gradients(method, stch, t)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def _libmtl_coefficients(loss_seq, steps_per_epoch, warmup_epoch, mu):
  """numpy transcription of LibMTL/weighting/STCH.py `backward`: returns
  for each step c = ∂(objective)/∂L, so the shared update is c @ J."""
  t = loss_seq.shape[1]
  average_loss, count, nadir, out = 0.0, 0, None, []
  for i, losses in enumerate(loss_seq):
    epoch = i // steps_per_epoch
    if epoch <= warmup_epoch:  # loss = Σ log(L + 1e-20)
      if epoch == warmup_epoch:
        average_loss = average_loss + losses
        count += 1
      out.append(1.0 / (losses + 1e-20))
    else:
      if nadir is None:
        nadir = average_loss / count
      rel = np.log(losses / nadir + 1e-20)
      soft = np.exp((rel - rel.max()) / mu)
      soft /= soft.sum()
      # loss = mu·log Σ exp((rel − max)/mu)·T, max detached
      out.append(t * soft / nadir / (losses / nadir + 1e-20))
  return np.array(out)


@pytest.mark.parametrize("warmup", [0, 2])
def test_steps_equal_libmtl_with_warmup_and_nadir(warmup):
  rng = np.random.default_rng(warmup)
  t, per_epoch, mu = 3, 2, 0.4
  loss_seq = rng.uniform(0.1, 4.0, size=((warmup + 3) * per_epoch, t))
  J = rng.normal(size=(t, 6))
  want = _libmtl_coefficients(loss_seq, per_epoch, warmup, mu)
  method = build(STCH(steps_per_epoch=per_epoch, mu=mu,
                      warmup_epochs=warmup), t)
  call = tf.function(method.__call__)
  update = tf.function(method.update)
  for i, losses in enumerate(loss_seq):
    l = tf.constant(losses, tf.float32)
    w = call(l, tf.constant(i)).numpy()
    np.testing.assert_allclose(w @ J, want[i] @ J, rtol=1e-5, atol=1e-6,
                               err_msg=f"step {i}")
    update(l, tf.constant(i))
  np.testing.assert_allclose(
      method.nadir.numpy(),
      loss_seq[warmup * per_epoch:(warmup + 1) * per_epoch].mean(0),
      rtol=1e-6)


def test_smaller_mu_puts_the_weight_on_the_worst_relative_loss():
  losses = tf.constant([1.0, 3.0, 2.0])  # relative to nadir 1: task 1 worst
  w_soft = build(STCH(mu=10.0, nadir=[1.0] * 3), 3)(losses, 0).numpy()
  w_hard = build(STCH(mu=0.01, nadir=[1.0] * 3), 3)(losses, 0).numpy()
  share = lambda w: w * losses.numpy() / 3.0  # softmax part of the weights
  assert share(w_hard)[1] > 0.999 and share(w_soft)[1] < 0.5


def test_bad_arguments():
  with pytest.raises(UserError, match="steps_per_epoch"):
    STCH()
  with pytest.raises(UserError, match="mu"):
    STCH(steps_per_epoch=1, mu=0.0)
  with pytest.raises(UserError, match="3 tasks"):
    build(STCH(nadir=[1.0, 2.0]), 3)


def test_absent_task_smooth_max_over_the_present_tasks():
  """With a fixed nadir, an absent task is left out of the smooth max: the
  weighted gradient is that of P·μ·log Σ_present exp(ℓ_t/μ), and its
  weight is 0 (also in warm-up)."""
  for t, mu, absent in ((3, 0.3, 1), (4, 1.0, 0)):
    nadir = np.linspace(0.5, 3.0, t).astype(np.float32)
    method = build(STCH(mu=mu, nadir=list(nadir)), t)
    keep = np.arange(t) != absent

    def stch(losses, mu=mu, z=nadir[keep]):
      rel = tf.math.log(losses / z + 1e-20)
      return losses.shape[0] * mu * tf.reduce_logsumexp(rel / mu)

    got, want, w = gradients_with_an_absent_task(method, stch, t, absent)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert w[absent] == 0.0
  warm = build(STCH(steps_per_epoch=1), 2)
  w = warm(tf.constant([2.0, 0.0]), 0, present=tf.constant([True, False]))
  np.testing.assert_allclose(w, [0.5, 0.0], rtol=1e-6)


def test_absent_task_nadir_over_its_present_steps():
  """Epoch W = 1 of 3 steps: b absent in one of them, c in all. a's nadir
  is its 3-step mean, b's the mean of its 2 present steps, c keeps 1."""
  method = build(STCH(steps_per_epoch=3, warmup_epochs=1), 3)
  rng = np.random.default_rng(5)
  seq = rng.uniform(0.5, 4.0, size=(6, 3))
  masks = [[True] * 3] * 3 + [[True, True, False], [True, False, False],
                              [True, True, False]]
  for i, (losses, mask) in enumerate(zip(seq, masks)):
    losses = np.where(mask, losses, 0.0)
    method.update(tf.constant(losses, tf.float32), tf.constant(i),
                  present=tf.constant(mask))
  assert float(method.nadir_set) == 1.0
  want = [seq[3:, 0].mean(), (seq[3, 1] + seq[5, 1]) / 2, 1.0]
  np.testing.assert_allclose(method.nadir.numpy(), want, rtol=1e-6)
