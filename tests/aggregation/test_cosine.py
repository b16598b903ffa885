"""Cosine gating (Du et al. 2018): gates per layer on hand-made gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import aggregation, losses
from tfmtl.errors import UserError
from tfmtl.tasks import Task

W_AUX = 0.5


def tasks():
  return [Task("m", losses.l1, 1.0, "main"),
          Task("a", losses.l1, W_AUX, "aux")]


def two_layers():
  """Shared variables of two Dense layers: 2 + 3 columns of J."""
  d1, d2 = keras.layers.Dense(1, name="d1"), keras.layers.Dense(1, name="d2")
  d1.build((None, 1))
  d2.build((None, 2))
  return d1.trainable_variables + d2.trainable_variables


def built(name, **kwargs):
  method = aggregation.get(name, **kwargs)
  method.build(tasks(), num_params=5, shared_variables=two_layers())
  return method


# Layer d1: cos = 1/√2 (agreeing); layer d2: cos = −1/(√2·√26) (conflicting).
G_MAIN = np.array([1.0, 0.0, 1.0, 1.0, 0.0], np.float32)
G_AUX = np.array([1.0, 1.0, -1.0, 0.0, 5.0], np.float32)
J = tf.constant([G_MAIN, G_AUX])


def test_unweighted_keeps_agreeing_layer_drops_conflicting_one():
  cos = built("cosine")
  d = cos(J).numpy()
  want = G_MAIN + W_AUX * np.concatenate([G_AUX[:2], [0.0, 0.0, 0.0]])
  np.testing.assert_allclose(d, want, rtol=1e-6)
  logs = cos.logs()
  np.testing.assert_allclose(logs["gate/d1"], W_AUX)
  np.testing.assert_allclose(logs["gate/d2"], 0.0)
  np.testing.assert_allclose(logs["cos/d1"], 1 / np.sqrt(2), rtol=1e-6)
  np.testing.assert_allclose(logs["cos/d2"], -1 / np.sqrt(52), rtol=1e-6)


def test_weighted_scales_by_cosine():
  d = built("cosine_weighted")(J).numpy()
  want = G_MAIN + W_AUX / np.sqrt(2) * np.concatenate(
      [G_AUX[:2], [0.0, 0.0, 0.0]])
  np.testing.assert_allclose(d, want, rtol=1e-6)


def test_whole_vector_form_is_algorithm_1():
  # Over all columns ⟨g_m, g_a⟩ = 1 − 1 = 0: the unweighted gate (cos ≥ 0)
  # stays open, the weighted one closes.
  np.testing.assert_allclose(built("cosine", per_layer=False)(J),
                             G_MAIN + W_AUX * G_AUX, rtol=1e-6)
  np.testing.assert_allclose(built("cosine_weighted", per_layer=False)(J),
                             G_MAIN, rtol=1e-6)
  assert set(built("cosine", per_layer=False).logs()) == {"gate/shared",
                                                          "cos/shared"}


def test_noise_that_flips_the_sign_closes_the_gate():
  # A small aux gradient pointing slightly against the main one: closed
  # whatever its size (the cosine ignores magnitudes).
  j = tf.constant([[2.0, 0.0], [-1e-3, 1.0]])
  cos = aggregation.get("cosine")
  cos.build(tasks(), num_params=2)
  np.testing.assert_allclose(cos(j), [2.0, 0.0], rtol=1e-6)


def test_several_main_tasks_are_combined_with_their_weights():
  # Main tasks: 1·[1, 0] + 3·[−1, 1] = [−2, 3]; aux [0, 1] agrees with the
  # combination (cos = 3/√13) though it is orthogonal to the first task.
  ts = [Task("m1", losses.l1, 1.0, "main"), Task("m2", losses.l1, 3.0, "main"),
        Task("a", losses.l1, W_AUX, "aux")]
  j = tf.constant([[1.0, 0.0], [-1.0, 1.0], [0.0, 1.0]])
  cos = aggregation.get("cosine_weighted")
  cos.build(ts, num_params=2)
  np.testing.assert_allclose(cos(j), [-2.0, 3.0 + W_AUX * 3 / np.sqrt(13)],
                             rtol=1e-6)
  np.testing.assert_allclose(tf.function(cos)(j), cos(j), rtol=1e-6)


def test_roles_are_required():
  with pytest.raises(UserError, match="role 'aux'"):
    aggregation.get("cosine").build(tasks()[:1])


def three_tasks(name):
  ts = [Task("m", losses.l1, 1.0, "main"), Task("a", losses.l1, 0.5, "aux"),
        Task("b", losses.l1, 0.25, "aux")]
  method = aggregation.get(name)
  method.build(ts, num_params=2)
  return method


@pytest.mark.parametrize("name", ["cosine", "cosine_weighted"])
def test_absent_aux_contributes_nothing(name):
  # a absent (its row, nonzero here, must be ignored); b agrees with m:
  # cos_b = 2/√5, gate 0.25 (unweighted) or 0.25·2/√5 (weighted).
  j = tf.constant([[1.0, 0.0], [1.0, 1.0], [2.0, 1.0]])
  method = three_tasks(name)
  d = tf.function(method)(j, present=tf.constant([True, False, True]))
  gate = 0.25 * (2 / np.sqrt(5) if name == "cosine_weighted" else 1.0)
  np.testing.assert_allclose(d, [1.0 + 2 * gate, gate], rtol=1e-6)
  logs = method.logs()
  assert float(logs["gate/a/shared"]) == 0.0
  assert float(logs["cos/a/shared"]) == 0.0
  np.testing.assert_allclose(logs["gate/b/shared"], gate, rtol=1e-6)


@pytest.mark.parametrize("name", ["cosine", "cosine_weighted"])
def test_absent_main_keeps_aux_at_configured_weight(name):
  # No main task: the aux gradients enter at w_aux (ATG), even b, which
  # conflicts with the (ignored) main row.
  j = tf.constant([[1.0, 0.0], [1.0, 1.0], [-1.0, 2.0]])
  method = three_tasks(name)
  d = method(j, present=tf.constant([False, True, True]))
  np.testing.assert_allclose(d, [0.5 - 0.25, 0.5 + 0.5], rtol=1e-6)
  np.testing.assert_allclose(method.logs()["gate/b/shared"], 0.25)
  # All present: b is gated as usual.
  d = method(j, present=tf.constant([True, True, True]))
  np.testing.assert_allclose(d, method(j), rtol=1e-6)
