"""PLE (Tang et al. 2020): harness checks at 1–3 levels, the split's rule."""

import numpy as np
import pytest
import tensorflow as tf

import tfmtl.models

from tests.models import harness
from tests.models import test_cgc
from tests.models.test_mmoe import D, SMALL, expert, tower
from tfmtl.models import infer
from tfmtl.models.ple import PLE


class TestPLEOneLevelIsCGC(harness.ClassifierHarness):
  name = "ple"
  kwargs = dict(num_levels=1, num_shared=2, num_specific=2, **SMALL)
  heavy = False
  expected_trainable_params = test_cgc.TestCGC.expected_trainable_params


class TestPLETwoLevels(harness.ClassifierHarness):
  name = "ple"
  kwargs = dict(num_levels=2, num_shared=2, num_specific=1, upper_units=[6],
                **SMALL)
  keras_export = True
  # Level 1: 2 shared + 2·1 task experts on the image, two task gates over
  # 1 + 2 experts, a shared gate over all 4. Level 2: MLP experts 8 → 6
  # (2 shared, 1 per task), task gates on the 8-d level input over 3.
  expected_trainable_params = (
      4 * expert(D, 8) + 2 * expert(D, 3) + expert(D, 4) +
      4 * expert(8, 6) + 2 * expert(8, 3) + 2 * tower(6, 8))


class TestPLEThreeLevels(harness.ClassifierHarness):
  name = "ple"
  kwargs = dict(num_levels=3, num_shared=1, num_specific=1, **SMALL)
  heavy = False


def test_task_specific_variables_follow_the_rule():
  model = PLE(task_names=["a", "b"], num_levels=3, num_shared=1,
              num_specific=1, **SMALL)
  model(tf.zeros([1, 28, 28, 1]))
  own = {id(v) for v in model.task_variables("a")}
  mine = lambda layer: {id(v) for v in layer.trainable_variables}
  # Top level (index 2): task a's expert and gate; level 1: its gate only.
  assert mine(model.task_experts[2]["a"][0]) <= own
  assert mine(model.task_gates[2]["a"]) <= own
  assert mine(model.task_gates[1]["a"]) <= own
  shared = {id(v) for v in model.shared_variables}
  assert mine(model.task_experts[1]["a"][0]) <= shared  # feeds shared gate
  assert mine(model.task_gates[0]["a"]) <= shared
  assert mine(model.shared_gates[1]) <= shared


def test_lower_task_gate_reaches_only_its_task():
  model = PLE(task_names=["a", "b"], num_levels=2, num_shared=1,
              num_specific=1, **SMALL)
  x = tf.random.stateless_uniform([2, 28, 28, 1], seed=[7, 8])
  before = model(x)
  gate = model.task_gates[0]["a"]
  # Raise expert 0's logit only: a constant added to every logit (the whole
  # kernel + c) leaves the softmax gate, hence the output, unchanged.
  gate.kernel.assign(gate.kernel + 0.5 * tf.one_hot(0, gate.kernel.shape[1]))
  after = model(x)
  # Moved by 0.25 here (outputs of size 0.19); round-off would be ~1e-7.
  assert np.abs(before["a"] - after["a"]).max() > 1e-2
  np.testing.assert_array_equal(before["b"], after["b"])


@pytest.mark.parametrize("name,kwargs", [
    ("ple", dict(num_levels=3, num_shared=1, num_specific=1)),
    ("ple", dict(num_levels=2, num_shared=2, num_specific=2)),
    ("cgc", dict(num_shared=1, num_specific=1)),
    ("mmoe", dict(num_experts=2)),
    ("dselect_k", dict(num_experts=4, num_nonzeros=2)),
])
def test_explicit_split_equals_the_probed_one(name, kwargs):
  # tfmtl.models.infer.probe traces which variables each task's output has
  # a gradient path to: an independent check of each model's stated split.
  tasks = ["a", "b", "c"]
  model = tfmtl.models.get(name, task_names=tasks, **kwargs, **SMALL)
  model(tf.zeros([1, 28, 28, 1]))
  depends = infer.probe(model, tasks, tf.TensorSpec([None, 28, 28, 1]))
  shared, own, unused = infer.owners_by_task(
      depends, model.trainable_variables, tasks)
  assert not unused
  ids = lambda vs: sorted(id(v) for v in vs)  # noqa: E731
  assert ids(shared) == ids(model.shared_variables)
  for t in tasks:
    assert ids(own[t]) == ids(model.task_variables(t)), t
