"""MMoE (Ma et al. 2018): harness checks, sizes, the mixture's properties."""

import numpy as np
import tensorflow as tf

from tests.models import harness
from tfmtl.models.mmoe import MMoE

D = 28 * 28
SMALL = dict(expert_kwargs={"units": [8]}, tower_units=[8])


def expert(d_in, units):
  return d_in * units + units


def tower(d_in, units, classes=10):
  return (d_in * units + units) + (units * classes + classes)


class TestMMoE(harness.ClassifierHarness):
  name = "mmoe"
  kwargs = dict(num_experts=3, **SMALL)
  keras_export = True
  # 3 shared experts; per task a 784 → 3 gate and a tower.
  expected_trainable_params = (3 * expert(D, 8) +
                               2 * (expert(D, 3) + tower(8, 8)))


class TestMMoELeNetExperts(harness.ClassifierHarness):
  name = "mmoe"
  kwargs = dict(num_experts=2, expert="lenet", tower_units=[50])
  heavy = False
  expected_trainable_params = (2 * 21330 + 2 * (expert(D, 2) + 3060))


def test_gates_are_per_example_distributions_and_mix_the_experts():
  model = MMoE(task_names=["a", "b"], num_experts=3, **SMALL)
  x = tf.random.stateless_uniform([4, 28, 28, 1], seed=[1, 2])
  out = model(x)
  weights = model.gate_weights(x)
  for t in ("a", "b"):
    w = weights[t].numpy()
    assert w.shape == (4, 3) and np.all(w > 0)
    # a float32 softmax over 3 experts: ≤ 3 roundings (1.8e-7)
    np.testing.assert_allclose(w.sum(1), 1.0, rtol=2e-6)
  assert not np.allclose(weights["a"].numpy(), weights["b"].numpy())
  # Task a's output is its tower on Σ_e g_e(x) f_e(x).
  f = np.stack([e(x).numpy() for e in model.experts], axis=1)
  mixed = np.einsum("be,bed->bd", weights["a"].numpy(), f)
  np.testing.assert_allclose(model._apply_tower("a", tf.constant(mixed)),
                             out["a"], rtol=1e-5, atol=1e-6)


def test_one_expert_is_hard_sharing():
  # With E = 1 every gate is 1: the output is the tower on the expert.
  model = MMoE(task_names=["a"], num_experts=1, **SMALL)
  x = tf.random.stateless_uniform([2, 28, 28, 1], seed=[3, 4])
  np.testing.assert_allclose(
      model(x)["a"], model._apply_tower("a", model.experts[0](x)),
      rtol=1e-6)
