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


@pytest.fixture(scope="session")
def mirrored():
  """MirroredStrategy over the two logical CPU devices.

  One per session: several MirroredStrategy objects in one process can make
  collective ops fail with "Shape mismatch in the collective instance".
  """
  return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
