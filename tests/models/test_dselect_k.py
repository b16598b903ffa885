"""DSelect-k (Hazimeh et al. 2021): harness checks, smooth step, selection."""

import numpy as np
import pytest
import tensorflow as tf

from tests.models import harness
from tests.models.test_mmoe import D, SMALL, tower
from tfmtl.errors import UserError
from tfmtl.models import dselect_k as dk


class TestDSelectK(harness.ClassifierHarness):
  name = "dselect_k"
  kwargs = dict(num_experts=4, num_nonzeros=2, **SMALL)
  keras_export = True
  # 4 experts; per task z: 784 → k·m = 2·2, w: 784 → 2, and a tower.
  expected_trainable_params = (4 * (D * 8 + 8) + 2 * (
      (D * 4 + 4) + (D * 2 + 2) + tower(8, 8)))


class TestDSelectKThreeExperts(harness.ClassifierHarness):
  name = "dselect_k"
  kwargs = dict(num_experts=3, num_nonzeros=1, **SMALL)
  heavy = False


def test_smooth_step_values():
  # S(t) = −2t³/γ³ + 3t/(2γ) + ½ inside (−γ/2, γ/2); γ = 2, t = 0.5 gives
  # −0.03125 + 0.375 + 0.5 = 0.84375 (the official tests' value).
  t = tf.constant([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0])
  np.testing.assert_allclose(dk.smooth_step(t, 2.0),
                             [0, 0, 0.5, 0.84375, 1, 1], rtol=1e-6)


def test_binary_codes_most_significant_bit_first():
  np.testing.assert_array_equal(dk.binary_codes(3),
                                [[0, 0], [0, 1], [1, 0]])
  assert dk.binary_codes(1).shape == (1, 1)


def test_saturated_selectors_pick_single_experts():
  codes = tf.constant(dk.binary_codes(4))
  # Selector 0: z = (+1, −1) ≥ γ/2 in size → code 10 = expert 2;
  # selector 1: (−1, −1) → expert 0. Equal w: α = ½ on each.
  z = tf.constant([[[1.0, -1.0], [-1.0, -1.0]]])
  alpha = dk.expert_weights(z, tf.zeros([1, 2]), codes)
  np.testing.assert_allclose(alpha, [[0.5, 0.0, 0.5, 0.0]], atol=1e-7)
  # w favouring selector 0 by log 3: α = (¼, 0, ¾, 0).
  alpha = dk.expert_weights(z, tf.constant([[np.log(3.0), 0.0]], tf.float32), codes)
  np.testing.assert_allclose(alpha, [[0.25, 0.0, 0.75, 0.0]], rtol=1e-6)


def test_soft_selectors_sum_to_one():
  rng = np.random.default_rng(0)
  z = tf.constant(rng.uniform(-0.4, 0.4, (5, 3, 3)), tf.float32)
  w = tf.constant(rng.normal(size=(5, 3)), tf.float32)
  for experts in (8, 5):  # a power of 2, and one renormalised
    alpha = dk.expert_weights(z, w, tf.constant(dk.binary_codes(experts)))
    assert alpha.shape == (5, experts) and np.all(alpha.numpy() >= 0)
    np.testing.assert_allclose(alpha.numpy().sum(1), 1.0, rtol=1e-5)
  # Power of 2: Σₑ Πⱼ (S or 1 − S) = Πⱼ (S + 1 − S) = 1 with no
  # renormalisation; check one selector directly.
  s = dk.smooth_step(z[0, 0]).numpy()
  r = [np.prod([s[j] if b else 1 - s[j] for j, b in enumerate(code)])
       for code in dk.binary_codes(8)]
  assert np.sum(r) == pytest.approx(1.0, rel=1e-6)


def test_official_initialisation_ranges():
  gate = dk.DSelectKGate(4, 2, gamma=2.0, seed=1)
  gate.build((None, 10))
  assert np.abs(gate.z.kernel.numpy()).max() <= 0.02
  assert np.abs(gate.w.kernel.numpy()).max() <= 0.05


def test_bad_nonzeros():
  with pytest.raises(UserError, match="num_nonzeros"):
    dk.DSelectK(task_names=["a"], num_experts=2, num_nonzeros=3)
