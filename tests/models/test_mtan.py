"""MTAN: harness checks, any number of tasks, and the paper's #P. ratios."""

import gc

import numpy as np
import tensorflow as tf

from tests.models import harness
from tfmtl.models.cross_stitch import CrossStitch
from tfmtl.models.mtan import MTAN
from tfmtl.models.segnet import SegNet
from tfmtl.models.segnet_dense import SegNetDense


class TestMTAN(harness.DenseModelHarness):
  name = "mtan"
  kwargs = {"width": 0.125}
  has_representation = False


class TestMTANThreeTasks(harness.DenseModelHarness):
  # The seed hard-codes two / three tasks; any T works here.
  name = "mtan"
  kwargs = {"width": 0.125, "output_channels": {"normal": 3}}
  has_representation = False
  task_names = ("depth", "motion", "normal", "semantic")
  channels = {"depth": 1, "motion": 2, "normal": 3, "semantic": 7}
  heavy = False


def _trainable(model):
  model({"image": tf.zeros([1, 32, 32, 3])})
  n = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
  del model
  gc.collect()
  return n


def test_parameter_ratios_match_the_mtan_paper():
  # Liu et al. CVPR 2019, CityScapes table, #P. relative to one single-task
  # SegNet: One Task 2 (two networks), Split-Wide 1.75, Dense 3.63,
  # Cross-Stitch 2, MTAN 1.65 (two tasks: 7-class semantic + depth).
  tasks = {"semantic": 7, "depth": 1}
  one = _trainable(SegNet(tasks={"semantic": 7}, form="single"))
  ratio = lambda m: _trainable(m) / one
  assert abs(ratio(MTAN(tasks=tasks)) - 1.65) < 0.02
  assert abs(ratio(SegNet(tasks=tasks, variant="wide")) - 1.75) < 0.02
  assert abs(ratio(SegNetDense(tasks=tasks)) - 3.63) < 0.02
  assert abs(ratio(CrossStitch(tasks=tasks)) - 2.0) < 0.01


def test_attention_of_ones_passes_shared_features_through():
  # With every attention mask forced to 1, task t's decoder output is the
  # shared decoder's output dⱼ: a ⊙ d = d (MTAN eq. 1 with a ≡ 1).
  model = MTAN(tasks={"depth": 1, "semantic": 7}, width=0.125)
  x = {"image": tf.random.stateless_uniform([1, 32, 32, 3], seed=[0, 1])}
  model(x)
  for t in ("depth", "semantic"):
    for att in model.decoder_att[t][:1]:
      # σ(BN(z)) = 1 needs BN's β → ∞; a large β saturates the sigmoid.
      att.bn2.beta.assign(tf.fill(att.bn2.beta.shape, 50.0))
  shared = model.trunk(x["image"], training=False)["dec"][-1]
  head = model.heads["semantic"]
  np.testing.assert_allclose(model(x)["semantic"].numpy(),
                             head(shared).numpy(), rtol=1e-5, atol=1e-5)
