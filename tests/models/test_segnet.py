"""SegNet: harness checks for the split and single forms, and the exact
parameter count of Liu et al.'s single-task SegNet."""

import keras
import numpy as np
import tensorflow as tf

from tests.models import harness
from tfmtl.models.segnet import SegNet


def conv_bn(cin, cout):
  """Trainable params of 3×3 conv (+bias) → BN (γ, β)."""
  return 9 * cin * cout + cout + 2 * cout


def segnet_trunk_params(f):
  """Trainable params of the seed's SegNet trunk, block by block."""
  enc_in = [3] + f[:4]
  reps = [1, 1, 2, 2, 2]
  n = 0
  for i in range(5):
    n += conv_bn(enc_in[i], f[i]) + reps[i] * conv_bn(f[i], f[i])
  out = [f[0]] + f[:4]
  for k in range(5):
    n += conv_bn(f[k], out[k]) + reps[k] * conv_bn(out[k], out[k])
  return n


def head_params(c, out):
  return 9 * c * c + c + c * out + out


class TestSegNetSplit(harness.DenseModelHarness):
  name = "segnet"
  kwargs = {"width": 0.125, "form": "split"}
  # width 0.125: f = [8, 16, 32, 64, 64]
  expected_trainable_params = (segnet_trunk_params([8, 16, 32, 64, 64]) +
                               head_params(8, 1) + head_params(8, 7))


class TestSegNetSingle(harness.DenseModelHarness):
  name = "segnet"
  kwargs = {"width": 0.125, "form": "single",
            "output_channels": {"semantic": 3}}
  has_representation = False
  channels = {"depth": 1, "semantic": 3}
  heavy = False
  expected_trainable_params = (2 * segnet_trunk_params([8, 16, 32, 64, 64]) +
                               head_params(8, 1) + head_params(8, 3))

  def test_single_form_shares_nothing(self, model):
    assert model.shared_variables == []


def test_paper_size_single_task_matches_reference_count():
  # Liu's model_segnet_*.py divide by 24981069, the parameter count of the
  # single-task SegNet with a 13-class head (NYUv2), to report "#P.".
  m = SegNet(tasks={"semantic": 13}, form="single")
  m({"image": tf.zeros([1, 32, 32, 3])})
  n = sum(int(np.prod(v.shape)) for v in m.trainable_variables)
  assert n == 24981069 == segnet_trunk_params([64, 128, 256, 512, 512]) + \
      head_params(64, 13)


def test_unpool_inverts_pool_at_the_argmax():
  from tfmtl.models import layers as L  # pylint: disable=g-import-not-at-top
  x = tf.random.stateless_uniform([2, 4, 6, 3], seed=[1, 2])
  pooled, idx = L.max_pool_with_argmax(x)
  up = L.unpool(pooled, idx).numpy()
  xs = x.numpy()
  # Every 2×2 window keeps exactly its maximum, at its place; the rest is 0.
  for b in range(2):
    for i in range(0, 4, 2):
      for j in range(0, 6, 2):
        for c in range(3):
          win, got = xs[b, i:i + 2, j:j + 2, c], up[b, i:i + 2, j:j + 2, c]
          assert np.count_nonzero(got) == 1
          assert got.max() == win.max()
          assert got[np.unravel_index(win.argmax(), win.shape)] == win.max()


def test_rejects_size_not_divisible_by_32():
  import pytest  # pylint: disable=g-import-not-at-top
  from tfmtl.errors import UserError  # pylint: disable=g-import-not-at-top
  m = SegNet(tasks={"depth": 1}, width=0.125)
  with pytest.raises(UserError, match="multiple of"):
    m({"image": tf.zeros([1, 48, 64, 3])})


def test_unknown_task_without_channels_is_a_user_error():
  import pytest  # pylint: disable=g-import-not-at-top
  from tfmtl.errors import UserError  # pylint: disable=g-import-not-at-top
  with pytest.raises(UserError, match="output_channels"):
    SegNet(task_names=["edges"])
  assert keras.backend.backend() == "tensorflow"
