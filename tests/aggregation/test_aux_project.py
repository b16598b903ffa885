"""aux_project: the auxiliary gradient loses only its conflicting part."""

import keras
import numpy as np
import tensorflow as tf

from tfmtl import aggregation, losses
from tfmtl.tasks import Task

W_AUX = 0.5


def tasks():
  return [Task("m", losses.l1, 2.0, "main"),
          Task("a", losses.l1, W_AUX, "aux")]


def built(num_params=2, shared_variables=None, **kwargs):
  method = aggregation.get("aux_project", **kwargs)
  method.build(tasks(), num_params=num_params,
               shared_variables=shared_variables)
  return method


def test_conflicting_component_is_removed():
  # g_m = 2·[1, 0]; g_a = [−1, 1] → g_a' = [0, 1].
  proj = built()
  d = proj(tf.constant([[1.0, 0.0], [-1.0, 1.0]])).numpy()
  np.testing.assert_allclose(d, [2.0, W_AUX], rtol=1e-6)
  np.testing.assert_allclose(proj.logs()["gate/shared"], 1 / np.sqrt(2),
                             rtol=1e-6)
  np.testing.assert_allclose(proj.logs()["cos/shared"], -1 / np.sqrt(2),
                             rtol=1e-6)


def test_agreeing_gradient_passes_unchanged():
  d = built()(tf.constant([[1.0, 0.0], [3.0, 1.0]]))
  np.testing.assert_allclose(d, [2.0 + 3 * W_AUX, W_AUX], rtol=1e-6)


def test_never_slows_the_main_task_to_first_order():
  rng = np.random.default_rng(0)
  proj = built(num_params=6)
  for _ in range(20):
    j = rng.normal(size=(2, 6)).astype(np.float32)
    g_main = 2.0 * j[0]
    d = proj(tf.constant(j)).numpy()
    assert d @ g_main >= g_main @ g_main - 1e-4


def test_per_layer_projects_each_layer_on_its_own():
  d1, d2 = keras.layers.Dense(1, name="d1"), keras.layers.Dense(1, name="d2")
  d1.build((None, 1))
  d2.build((None, 1))
  shared = d1.trainable_variables + d2.trainable_variables
  # Layer d1 conflicts (−1 along [1, 0]), layer d2 agrees; over both the
  # dot product is −1 + 2 = 1 > 0, so the whole-vector form keeps all.
  j = tf.constant([[1.0, 0.0, 1.0, 0.0], [-1.0, 1.0, 2.0, 0.0]])
  per_layer = built(4, shared, per_layer=True)(j).numpy()
  np.testing.assert_allclose(per_layer,
                             [2.0, W_AUX, 2.0 + 2 * W_AUX, 0.0], rtol=1e-6)
  whole = built(4, shared)(j).numpy()
  np.testing.assert_allclose(whole, 2.0 * j[0] + W_AUX * j[1], rtol=1e-6)


def test_absent_tasks():
  ts = [Task("m", losses.l1, 2.0, "main"), Task("a", losses.l1, 0.5, "aux"),
        Task("b", losses.l1, 0.25, "aux")]
  proj = aggregation.get("aux_project")
  proj.build(ts, num_params=2)
  j = tf.constant([[1.0, 0.0], [-1.0, 1.0], [-2.0, 3.0]])
  # a absent (its nonzero row ignored): only b is projected, to [0, 3].
  d = tf.function(proj)(j, present=tf.constant([True, False, True]))
  np.testing.assert_allclose(d, [2.0, 0.25 * 3.0], rtol=1e-6)
  assert float(proj.logs()["gate/a/shared"]) == 0.0
  np.testing.assert_allclose(proj.logs()["gate/b/shared"], 3 / np.sqrt(13),
                             rtol=1e-6)
  # Main absent: nothing to project against, the aux rows pass (ATG).
  d = proj(j, present=tf.constant([False, True, True]))
  np.testing.assert_allclose(d, 0.5 * j[1] + 0.25 * j[2], rtol=1e-6)
  np.testing.assert_allclose(proj.logs()["gate/b/shared"], 1.0)
