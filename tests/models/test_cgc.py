"""CGC (Tang et al. 2020): harness checks, sizes, gates see own + shared."""

import numpy as np
import pytest
import tensorflow as tf

from tests.models import harness
from tests.models.test_mmoe import D, SMALL, expert, tower
from tfmtl.errors import UserError
from tfmtl.models.cgc import CGC


class TestCGC(harness.ClassifierHarness):
  name = "cgc"
  kwargs = dict(num_shared=2, num_specific=2, **SMALL)
  keras_export = True
  # 2 shared experts; per task 2 experts, a 784 → 4 gate and a tower.
  expected_trainable_params = (2 * expert(D, 8) + 2 * (
      2 * expert(D, 8) + expert(D, 4) + tower(8, 8)))


def test_task_experts_reach_only_their_task():
  model = CGC(task_names=["a", "b"], num_shared=1, num_specific=1, **SMALL)
  x = tf.random.stateless_uniform([2, 28, 28, 1], seed=[5, 6])
  before = model(x)
  own = model.task_experts["a"][0]
  own.dense[0].kernel.assign(own.dense[0].kernel * 3.0)
  after = model(x)
  assert not np.allclose(before["a"], after["a"])
  np.testing.assert_array_equal(before["b"], after["b"])


def test_needs_a_shared_expert():
  with pytest.raises(UserError, match="at least one shared expert"):
    CGC(task_names=["a"], num_shared=0)
