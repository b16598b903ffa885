"""MultiLeNet (Sener & Koltun 2018): harness checks, the paper's sizes."""

import numpy as np

from tests.models import harness
from tfmtl.models.multi_lenet import MultiLeNet

# conv1 5·5·1·10 + 10, conv2 5·5·10·20 + 20, fc 320·50 + 50 (4·4·20 = 320
# after two valid 5×5 convs and two 2×2 pools on 28×28).
SHARED = (25 * 10 + 10) + (25 * 10 * 20 + 20) + (320 * 50 + 50)
HEAD = (50 * 50 + 50) + (50 * 10 + 10)


class TestMultiLeNet(harness.ClassifierHarness):
  name = "multi_lenet"
  keras_export = True
  expected_trainable_params = SHARED + 2 * HEAD


def test_shared_and_task_sizes_match_the_reference():
  model = MultiLeNet(task_names=["left", "right"])
  model(np.zeros((1, 28, 28, 1), np.float32))
  count = lambda vs: sum(int(np.prod(v.shape)) for v in vs)
  assert count(model.shared_variables) == SHARED == 21330
  assert count(model.task_variables("left")) == HEAD == 3060
  assert model.last_shared_layer is model.fc


def test_tasks_with_their_own_class_counts():
  model = MultiLeNet(tasks={"a": 3, "b": 7}, dropout=0.0)
  out = model(np.zeros((2, 28, 28, 1), np.float32))
  assert out["a"].shape == (2, 3) and out["b"].shape == (2, 7)


def test_dropout_only_in_training():
  model = MultiLeNet(task_names=["left"], dropout=0.5)
  x = np.random.default_rng(0).uniform(size=(4, 28, 28, 1)).astype(np.float32)
  a = model(x, training=False)["left"].numpy()
  np.testing.assert_array_equal(a, model(x, training=False)["left"].numpy())
  assert not np.allclose(a, model(x, training=True)["left"].numpy())
