"""Test set-up: quiet TensorFlow, two logical CPUs for MirroredStrategy."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Must happen before TensorFlow initialises its devices, so here, at import.
_cpus = tf.config.list_physical_devices("CPU")
try:
  tf.config.set_logical_device_configuration(
      _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
except RuntimeError:  # already initialised by another conftest import
  pass


@pytest.fixture
def mirrored():
  """MirroredStrategy over the two logical CPU devices (see
  tfmtl.distribute.cpu_mirrored for why it reduces through one device)."""
  from tfmtl import distribute  # pylint: disable=g-import-not-at-top
  return distribute.cpu_mirrored(2)
