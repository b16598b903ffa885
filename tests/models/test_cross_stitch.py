"""Cross-stitch: harness checks and the units' defining property."""

import numpy as np
import tensorflow as tf

from tests.models import harness
from tfmtl.models.cross_stitch import CrossStitch, CrossStitchUnit


class TestCrossStitch(harness.DenseModelHarness):
  name = "cross_stitch"
  kwargs = {"width": 0.125}
  has_representation = False


def test_unit_mixes_with_alpha_and_starts_at_misra_init():
  unit = CrossStitchUnit(3, 0.9)
  a = unit.alpha.numpy()
  # Built as (0.9 − o) + o with o = 0.05 in float32: 2 roundings (≤ 1.2e-7).
  np.testing.assert_allclose(np.diag(a), 0.9, rtol=1e-6)
  np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-6)
  xs = [tf.fill([1, 2, 2, 1], float(v)) for v in (1, 10, 100)]
  got = [y.numpy()[0, 0, 0, 0] for y in unit(xs)]
  np.testing.assert_allclose(got, a @ np.array([1.0, 10.0, 100.0]),
                             rtol=1e-6)


def test_identity_units_decouple_the_columns():
  # α = I makes each column a plain SegNet: task t's output then does not
  # change when another column's weights change.
  model = CrossStitch(tasks={"depth": 1, "semantic": 7}, width=0.125,
                      self_weight=1.0)
  x = {"image": tf.random.stateless_uniform([1, 32, 32, 3], seed=[3, 4])}
  # training=True: batch statistics, so the outputs are not trivially flat.
  before = model(x, training=True)["depth"].numpy()
  assert before.std() > 0
  for v in model.columns["semantic"].trainable_variables:
    v.assign(v * 1.5)
  semantic = model(x, training=True)["semantic"].numpy()
  assert np.all(np.isfinite(semantic))
  np.testing.assert_allclose(model(x, training=True)["depth"].numpy(), before,
                             rtol=1e-6)
