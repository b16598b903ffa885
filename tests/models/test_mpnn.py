"""MPNN (Gilmer et al. 2017) on padded molecules: invariances and contract."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models.harness import check_representation
from tfmtl import losses, methods
from tfmtl.errors import UserError
from tfmtl.models import infer
from tfmtl.models.mpnn import MPNN, edge_messages, graph_features
from tfmtl.tasks import Task
from tfmtl.engine import check_partition, make_train_step

TASKS = ["mu", "cv"]


def molecules(n_pad=29, seed=0):
  """Methane and water, padded to n_pad atoms."""
  rng = np.random.default_rng(seed)
  atoms = np.zeros((2, n_pad), np.int32)
  atoms[0, :5] = [6, 1, 1, 1, 1]
  atoms[1, :3] = [8, 1, 1]
  pos = np.zeros((2, n_pad, 3), np.float32)
  pos[0, :5] = rng.normal(size=(5, 3))
  pos[1, :3] = rng.normal(size=(3, 3))
  return {"atoms": atoms, "positions": pos}


@pytest.fixture(scope="module")
def model():
  keras.utils.set_random_seed(0)
  m = MPNN(TASKS, dim=8, edge_hidden=16, seed=1)
  m(molecules())
  return m


def test_outputs_and_contract(model):
  out = model(molecules())
  assert {t: tuple(v.shape) for t, v in out.items()} == {
      "mu": (2, 1), "cv": (2, 1)}
  check_partition(model, TASKS)
  assert model.has_representation
  check_representation(model, molecules())
  clone = MPNN.from_config(model.get_config())
  clone(molecules())
  assert clone.count_params() == model.count_params()


def test_invariant_to_atom_order_and_padding(model):
  x = molecules()
  want = model(x)
  perm = np.random.default_rng(3).permutation(29)  # pads move too
  shuffled = {"atoms": x["atoms"][:, perm], "positions": x["positions"][:,
                                                                        perm]}
  short = {k: v[:, :6] for k, v in x.items()}  # padded to 6, not 29
  for other in (model(shuffled), model(short)):
    for t in TASKS:
      np.testing.assert_allclose(other[t], want[t], rtol=1e-4, atol=1e-6)
  # Moving an atom changes the output (distances are read).
  moved = {"atoms": x["atoms"], "positions": x["positions"].copy()}
  moved["positions"][0, 1] *= 1.5
  assert not np.allclose(model(moved)["mu"][0], want["mu"][0])


def test_graph_features_by_hand():
  atoms = np.array([[6, 1, 0]], np.int32)
  pos = np.array([[[0, 0, 0], [1.09, 0, 0], [5, 5, 5]]], np.float32)
  x, e, node, edge = graph_features(tf.constant(atoms), tf.constant(pos))
  np.testing.assert_array_equal(node, [[1, 1, 0]])
  np.testing.assert_array_equal(edge[0], [[0, 1, 0], [1, 0, 0], [0, 0, 0]])
  np.testing.assert_allclose(x[0, 0], [0, 1, 0, 0, 0, 6 / 9], rtol=1e-6)
  # C–H at 1.09 Å < 1.15·(0.76 + 0.31): a bond; distance kept as is.
  np.testing.assert_allclose(e[0, 0, 1], [1.09, 1.0], rtol=1e-5)
  assert not np.any(e[0, 2]) and not np.any(e[0, :, 2])


def test_train_step_lowers_the_loss():
  keras.utils.set_random_seed(0)
  model = MPNN(TASKS, dim=8, edge_hidden=16)
  x = molecules()
  y = {"mu": tf.constant([[1.0], [-1.0]]), "cv": tf.constant([[0.5], [2.0]])}
  model(x)
  step = make_train_step(model, [Task(t, losses.mse) for t in TASKS],
                         methods.get("fixed"), keras.optimizers.Adam(1e-2),
                         function=False)
  first = float(step((x, y))["total_loss"])
  for _ in range(5):
    last = float(step((x, y))["total_loss"])
  assert last < first


def test_edge_messages_equal_the_dense_edge_matrices():
  # Σⱼ A(eᵢⱼ) hⱼ with A = reshape(u W + B) formed explicitly (PyG's NNConv
  # before the mean), on random values and a mask with padding.
  rng = np.random.default_rng(5)
  b, n, hid, d = 2, 5, 3, 4
  edge = (rng.random((b, n, n)) < 0.7).astype(np.float32)
  edge[:, -1, :] = edge[:, :, -1] = 0  # a padded atom
  u = rng.normal(size=(b, n, n, hid)).astype(np.float32) * edge[..., None]
  kernel = rng.normal(size=(hid, d * d)).astype(np.float32)
  bias = rng.normal(size=(d * d,)).astype(np.float32)
  h = rng.normal(size=(b, n, d)).astype(np.float32)
  a = (u @ kernel + bias).reshape(b, n, n, d, d) * edge[..., None, None]
  want = np.einsum("bijkl,bjl->bik", a, h)
  got = edge_messages(tf.constant(u), tf.constant(kernel.reshape(hid, d, d)),
                      tf.constant(bias.reshape(d, d)), tf.constant(edge),
                      tf.constant(h))
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  assert np.abs(want).max() > 1.0  # not a comparison of zeros


def test_bad_inputs():
  with pytest.raises(UserError, match="'atoms'"):
    MPNN(TASKS)(tf.zeros([1, 29]))


def test_explicit_split_equals_the_probed_one(model):
  spec = {"atoms": tf.TensorSpec([None, 29], tf.int32),
          "positions": tf.TensorSpec([None, 29, 3], tf.float32)}
  depends = infer.probe(model, TASKS, spec)
  shared, own, unused = infer.owners_by_task(
      depends, model.trainable_variables, TASKS)
  assert not unused
  assert {id(v) for v in shared} == {id(v) for v in model.shared_variables}
  for t in TASKS:
    assert {id(v) for v in own[t]} == {id(v) for v in model.task_variables(t)}
