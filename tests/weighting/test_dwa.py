"""DWA: ones for two epochs, then T·softmax(r/temp); weights sum to T."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.errors import UserError
from tfmtl.tasks import Task
from tfmtl.weighting.dwa import DWA


def _tasks(t):
  return [Task(f"t{i}", lambda y, p: y) for i in range(t)]


def test_rule_over_epochs():
  dwa = DWA(steps_per_epoch=2)
  dwa.build(_tasks(3))
  epochs = [[[1.0, 2.0, 4.0], [3.0, 2.0, 2.0]],   # mean (2, 2, 3)
            [[1.0, 1.0, 3.0], [1.0, 3.0, 3.0]],   # mean (1, 2, 3)
            [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]]
  step = tf.constant(0)
  for e, batches in enumerate(epochs):
    for losses in batches:
      w = dwa(tf.constant(losses), step).numpy()
      if e < 2:
        np.testing.assert_array_equal(w, [1.0, 1.0, 1.0])
      else:
        r = np.array([1 / 2, 2 / 2, 3 / 3])
        expected = 3 * np.exp(r / 2) / np.exp(r / 2).sum()
        np.testing.assert_allclose(w, expected, rtol=1e-6)
      np.testing.assert_allclose(w.sum(), 3.0, rtol=1e-6)
      dwa.update(tf.constant(losses), step)
  # The task whose loss fell fastest in the last epoch (t2: 3 -> 1) now
  # weighs least, the one that stalled (t0: 1 -> 1) most.
  w = dwa(tf.ones([3]), step).numpy()
  assert np.argmin(w) == 2 and np.argmax(w) == 0


def test_needs_steps_per_epoch():
  with pytest.raises(UserError, match="steps_per_epoch"):
    DWA()


def _libmtl_dwa(buffer, epoch, temp):
  """numpy transcription of LibMTL/weighting/DWA.py: with buffer[:, e] the
  average training loss of epoch e, epoch > 1 gets
  T·softmax((buffer[:, e−1] / buffer[:, e−2]) / temp), earlier epochs 1."""
  t = buffer.shape[0]
  if epoch > 1:
    r = buffer[:, epoch - 1] / buffer[:, epoch - 2] / temp
    return t * np.exp(r) / np.exp(r).sum()
  return np.ones(t)


def test_every_step_matches_libmtl():
  """LibMTL/weighting/DWA.py over 5 epochs of 3 steps on random losses.
  Same convention (Σw = T, temp = LibMTL's T). LibMTL's buffer holds its
  meter's epoch average (batch-size weighted: equal batches here), ours the
  mean of the epoch's global batch losses."""
  rng = np.random.default_rng(6)
  t, steps, temp = 3, 3, 2.0
  dwa = DWA(steps_per_epoch=steps, temp=temp)
  dwa.build(_tasks(t))
  buffer = np.zeros((t, 5))
  for epoch in range(5):
    losses = rng.uniform(0.2, 3.0, size=(steps, t))
    for k in range(steps):
      got = dwa(tf.constant(losses[k], tf.float32), tf.constant(k)).numpy()
      np.testing.assert_allclose(got, _libmtl_dwa(buffer, epoch, temp),
                                 rtol=1e-5, atol=1e-5,
                                 err_msg=f"epoch {epoch}")
      dwa.update(tf.constant(losses[k], tf.float32), tf.constant(k))
    buffer[:, epoch] = losses.mean(0)
  assert np.ptp(_libmtl_dwa(buffer, 4, temp)) > 0.05  # not flat


def test_absent_tasks_epoch_means_over_present_steps():
  """Task b absent in one step of epoch 0: its epoch mean is over the 2
  steps it was present in. Task c absent through epoch 1: it keeps its
  means, so at epoch 2 it has one known mean and ratio 1. A step with c
  absent weighs a and b by 2·softmax over them (DWA on 2 tasks)."""
  dwa = DWA(steps_per_epoch=3, temp=2.0)
  dwa.build(_tasks(3))
  step = tf.constant(0)
  rng = np.random.default_rng(3)
  e0 = rng.uniform(0.5, 3.0, size=(3, 3))
  e1 = rng.uniform(0.5, 3.0, size=(3, 3))
  masks0 = [[True] * 3, [True, False, True], [True] * 3]
  for losses, mask in zip(e0, masks0):
    losses = np.where(mask, losses, 0.0)  # an absent task's loss is 0
    present = tf.constant(mask)
    w = dwa(tf.constant(losses, tf.float32), step, present=present).numpy()
    np.testing.assert_array_equal(w, np.where(mask, 1.0, 0.0))
    dwa.update(tf.constant(losses, tf.float32), step, present=present)
  mean0 = e0.mean(0)
  mean0[1] = (e0[0, 1] + e0[2, 1]) / 2
  np.testing.assert_allclose(dwa.avg_prev.numpy(), mean0, rtol=1e-6)
  present = tf.constant([True, True, False])
  for losses in e1:
    dwa.update(tf.constant(np.where([1, 1, 0], losses, 0.0), tf.float32),
               step, present=present)
  np.testing.assert_allclose(dwa.avg_prev.numpy()[:2], e1.mean(0)[:2],
                             rtol=1e-6)
  np.testing.assert_allclose(dwa.avg_prev.numpy()[2], mean0[2], rtol=1e-6)
  assert dwa.avg_prev2.numpy()[2] == 1.0  # c: one epoch mean only
  r = np.array([e1.mean(0)[0] / mean0[0], e1.mean(0)[1] / mean0[1], 1.0])
  got = dwa(tf.ones([3]), step).numpy()
  np.testing.assert_allclose(got, 3 * np.exp(r / 2) / np.exp(r / 2).sum(),
                             rtol=1e-6)
  got = dwa(tf.ones([3]), step, present=present).numpy()
  want = 2 * np.exp(r[:2] / 2) / np.exp(r[:2] / 2).sum()
  np.testing.assert_allclose(got, [*want, 0.0], rtol=1e-6)
