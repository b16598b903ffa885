"""pose_flow: the reference network's sizes, outputs and sharing."""

import numpy as np
import tensorflow as tf

from tfmtl import losses, models
from tfmtl.models.pose_flow import PoseFlowNet
from tfmtl.engine import check_partition


def count(variables):
  return sum(int(np.prod(v.shape)) for v in variables)


def test_reference_parameter_counts():
  """DESIGN.md §2: trunk 3.66 M, trunk + pose heads 9.43 M at 128x320."""
  model = PoseFlowNet(task_names=["rot", "trans"])
  model({"frames": tf.zeros([1, 128, 320, 6])})
  trunk = count(model.shared_variables)
  pose = count(model.task_variables("trans") + model.task_variables("rot"))
  assert len(model.shared_variables) == 36
  assert trunk == 3_662_560
  assert trunk + pose == 9_434_854


def test_outputs_sharing_and_config_round_trip():
  model = models.get("pose_flow", task_names=["flow", "rot", "trans"],
                     width=0.125, pose_units=64)
  x = {"frames": tf.random.uniform([2, 32, 80, 6])}
  out = model(x, training=True)
  assert out["trans"].shape == (2, 3) and out["rot"].shape == (2, 3)
  assert out["flow"].shape == (2, 16, 40, 2)
  check_partition(model, ["flow", "rot", "trans"])
  # The flow loss reaches the trunk and its own head, not the pose heads.
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(losses.flow_log_rmse(
        tf.fill([2, 16, 40, 2], 0.5), model(x, training=True)["flow"]))
  variables = (model.shared_variables + model.task_variables("flow") +
               model.task_variables("rot"))
  grads = tape.gradient(loss, variables)
  n_shared = len(model.shared_variables)
  n_flow = len(model.task_variables("flow"))
  assert all(g is not None for g in grads[:n_shared + n_flow])
  assert all(g is None for g in grads[n_shared + n_flow:])
  clone = PoseFlowNet.from_config(model.get_config())
  assert clone.get_config() == model.get_config()
  clone(x)
  assert count(clone.trainable_variables) == count(model.trainable_variables)


def test_same_seed_same_weights():
  x = {"frames": tf.zeros([1, 32, 32, 6])}
  a, b = PoseFlowNet(width=0.0625, seed=4), PoseFlowNet(width=0.0625, seed=4)
  a(x), b(x)
  for va, vb in zip(a.trainable_variables, b.trainable_variables):
    np.testing.assert_array_equal(va.numpy(), vb.numpy())


def test_representation_split():
  """The heads read h_9 and the flow skips only; pose-only reads h_9."""
  from tests.models.harness import check_representation  # pylint: disable=g-import-not-at-top
  x = {"frames": tf.random.uniform([2, 32, 80, 6], seed=1)}
  for names, keys in ((["flow", "rot", "trans"], [1, 3, 5, 7, 8]),
                      (["rot", "trans"], [8])):
    model = models.get("pose_flow", task_names=names, width=0.125,
                       pose_units=16)
    model(x)
    check_representation(model, x)
    assert sorted(model.call_split(x)[0]) == keys
