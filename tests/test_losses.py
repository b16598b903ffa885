"""Per-example losses: the surface-normal loss by hand."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfmtl import losses


def test_normal_loss_by_hand():
  # Example 0 (2×2 pixels): cosines 1, 1/√2, (invalid pixel skipped), −1:
  # loss = 1 − (1 + 1/√2 − 1)/3. Example 1 has no valid pixel: loss 0.
  true = np.zeros((2, 2, 2, 3), np.float32)
  pred = np.ones((2, 2, 2, 3), np.float32)
  true[0, 0, 0], pred[0, 0, 0] = (0, 0, 1), (0, 0, 2)
  true[0, 0, 1], pred[0, 0, 1] = (1, 0, 0), (1, 1, 0)
  true[0, 1, 0], pred[0, 1, 0] = (0, 0, 0), (5, 5, 5)
  true[0, 1, 1], pred[0, 1, 1] = (0, 1, 0), (0, -3, 0)
  got = losses.get("normal")(tf.constant(true), tf.constant(pred)).numpy()
  want = 1 - (1 + 1 / math.sqrt(2) - 1) / 3
  np.testing.assert_allclose(got, [want, 0.0], rtol=1e-6)


def test_normal_loss_equals_libmtl_on_one_fully_valid_example():
  # LibMTL NormalLoss: 1 − Σ (n̂/‖n̂‖ · n) / #valid pixels.
  rng = np.random.default_rng(0)
  n = rng.normal(size=(1, 4, 5, 3))
  n /= np.linalg.norm(n, axis=-1, keepdims=True)
  p = rng.normal(size=(1, 4, 5, 3))
  ref = 1 - np.sum(p / np.linalg.norm(p, axis=-1, keepdims=True) * n) / 20
  got = losses.normal(tf.constant(n, tf.float32), tf.constant(p, tf.float32))
  assert float(got[0]) == pytest.approx(ref, rel=1e-5)


def test_sparse_ce_ignores_an_ignore_label_inside_the_class_range():
  """ignore_label = 2 of 4 classes: those pixels carry no loss (a bug
  that checked only ignore >= C, or dropped the mask, would count them)."""
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(2, 3, 4, 4)).astype(np.float32)
  labels = rng.integers(0, 4, size=(2, 3, 4)).astype(np.int32)
  labels[1] = 2  # the second example has no labelled pixel
  got = losses.sparse_ce(labels, logits, ignore_label=2).numpy()
  log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  ce = -np.take_along_axis(log_p, labels[..., None], -1)[..., 0]
  keep = labels[0] != 2
  np.testing.assert_allclose(got[0], ce[0][keep].mean(), rtol=1e-5)
  assert got[1] == 0.0
