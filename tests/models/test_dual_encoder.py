"""Dual encoder (seed 001): harness checks with RGB + flow inputs."""

import pytest
import tensorflow as tf

from tests.models import harness
from tfmtl.errors import UserError
from tfmtl.models.dual_encoder import DualEncoder


class TestDualEncoder(harness.DenseModelHarness):
  name = "dual_encoder"
  kwargs = {"width": 0.25}
  task_names = ("depth", "motion", "semantic")
  channels = {"depth": 1, "motion": 2, "semantic": 5}
  input_keys = ("image", "flow")


def test_defaults_are_the_seed_tasks():
  model = DualEncoder(width=0.25)
  assert model.task_names == ["depth", "semantic", "motion"]


def test_flow_input_is_required():
  model = DualEncoder(width=0.25)
  with pytest.raises(UserError, match="flow"):
    model({"image": tf.zeros([1, 32, 32, 3])})
