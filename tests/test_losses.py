"""Per-example losses by hand and against Keras; their families."""

import math

import keras
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


def test_bce_equals_keras_per_example_and_means_over_labels():
  rng = np.random.default_rng(0)
  y = rng.integers(0, 2, size=(5, 3)).astype(np.float32)
  p = rng.normal(size=(5, 3)).astype(np.float32) * 3
  want = keras.losses.BinaryCrossentropy(
      from_logits=True, reduction=None)(y[..., None], p[..., None])
  got = losses.bce(tf.constant(y), tf.constant(p))
  np.testing.assert_allclose(got, np.mean(want, axis=1), rtol=1e-5)
  # One binary task given [B] labels for a [B, 1] output.
  one = losses.bce(tf.constant(y[:, 0]), tf.constant(p[:, :1]))
  np.testing.assert_allclose(one, np.asarray(want)[:, 0], rtol=1e-5)


def test_huber_equals_keras_at_a_delta_other_than_one():
  rng = np.random.default_rng(1)
  y = rng.normal(size=(4, 6)).astype(np.float32) * 3
  p = rng.normal(size=(4, 6)).astype(np.float32) * 3
  want = keras.losses.Huber(delta=0.7, reduction=None)(y, p)
  got = losses.huber(tf.constant(y), tf.constant(p), delta=0.7)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  assert np.any(np.abs(y - p) < 0.7) and np.any(np.abs(y - p) > 0.7)


def test_keras_losses_on_image_outputs_reduce_like_keras():
  """A Keras loss on [B, H, W, C] outputs: per example, the mean over the
  non-batch axes, so its batch mean is what Keras' own reduction gives."""
  rng = np.random.default_rng(2)
  y = rng.integers(0, 4, size=(3, 5, 6)).astype(np.int32)
  p = rng.normal(size=(3, 5, 6, 4)).astype(np.float32)
  keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
  fn, family = losses.per_example(keras_loss)
  per = fn(tf.constant(y), tf.constant(p))
  assert family == "categorical" and per.shape == (3,)
  np.testing.assert_allclose(float(tf.reduce_mean(per)),
                             float(keras_loss(y, p)), rtol=1e-5)
  mse_fn, fam = losses.per_example(keras.losses.MeanSquaredError())
  yr = rng.normal(size=(3, 5, 6, 2)).astype(np.float32)
  pr = rng.normal(size=(3, 5, 6, 2)).astype(np.float32)
  np.testing.assert_allclose(
      mse_fn(tf.constant(yr), tf.constant(pr)),
      np.mean((yr - pr) ** 2, axis=(1, 2, 3)), rtol=1e-5)
  assert fam == "regression"


@pytest.mark.parametrize("loss, family", [
    ("sparse_ce", "categorical"), ("bce", "binary"), ("mse", "regression"),
    ("masked_l1", "depth"), ("normal", "normal"),
    ("sparse_categorical_crossentropy", "categorical"),
    ("binary_crossentropy", "binary_probs"), ("mae", "regression"),
    (keras.losses.BinaryCrossentropy(from_logits=True), "binary"),
    (keras.losses.BinaryCrossentropy(), "binary_probs"),
    (keras.losses.CategoricalCrossentropy(), "categorical_onehot"),
    (keras.losses.Huber(), "regression"),
])
def test_families(loss, family):
  assert losses.per_example(loss)[1] == family


def test_unknown_loss_name_lists_the_choices():
  from tfmtl.errors import UserError  # pylint: disable=g-import-not-at-top
  with pytest.raises(UserError, match="unknown loss 'msee': give a tfmtl "
                     r"loss \(bce, .*\), a Keras loss name"):
    losses.per_example("msee")
