"""MGDA-UB: weights from the representation Jacobian, one shared backward.

Checked against a direct transcription of Sener & Koltun §3.3 (separate
tapes, numpy min-norm weights for T = 2 in closed form):
    α* = clip(((g₂ − g₁)·g₂) / ‖g₁ − g₂‖², 0, 1),  α = (α*, 1 − α*)
for g_t = ∇_Z L_t, then d = Σ_t α_t ∇_θsh L_t. `reference_step` and
`check_one_step` serve the other representation-level methods too.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import methods, models
from tfmtl.errors import UserError
from tfmtl.models.base import MultiTaskModel
from tfmtl.models.hard_sharing import HardSharingMLP
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step

LR = 0.1


def _mse(y, p):
  return tf.reduce_mean(tf.square(y - p), axis=-1)


def _setup(seed=1):
  model = HardSharingMLP(["a", "b"], trunk_units=(8, 6), tower_units=(4,),
                         dropout=0.0, seed=seed)
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(16, 5)).astype(np.float32)
  # Conflicting targets, so the min-norm weights are interior.
  y = {"a": x[:, :1] * 2.0, "b": -x[:, :1] + np.sin(x[:, 1:2])}
  model(x)
  return model, (tf.constant(x), {k: tf.constant(v) for k, v in y.items()})


def min_norm_two(G):
  """Closed-form min-norm weights of two gradients from their Gramian."""
  a = np.clip((G[1, 1] - G[0, 1]) / (G[0, 0] + G[1, 1] - 2 * G[0, 1]), 0, 1)
  return np.array([a, 1.0 - a])


def reference_step(model, batch, weights_of, weights=(1.0, 0.5)):
  """One representation-level update with separate tapes and numpy:
  α = weights_of(G) from the Gramian G of g_t = ∇_Z L_t, shared variables
  θ − LR Σ_t α_t ∇_θ L_t, task variables θ_t − LR w_t ∇_θt L_t."""
  x, y = batch
  with tf.GradientTape(persistent=True) as tape:
    z, heads = model.call_split(x, training=True)
    out = heads(z)
    losses = [tf.reduce_mean(_mse(y[t], out[t])) for t in ("a", "b")]
  g = np.stack([tape.gradient(l, z).numpy().ravel() for l in losses])
  alpha = weights_of(g @ g.T)
  shared = model.shared_variables
  per_task = [tape.gradient(l, shared) for l in losses]
  expected = {}
  for k, v in enumerate(shared):
    expected[v.path] = v.numpy() - LR * (alpha[0] * per_task[0][k] +
                                         alpha[1] * per_task[1][k]).numpy()
  for i, t in enumerate(("a", "b")):
    for v, grad in zip(model.task_variables(t),
                       tape.gradient(losses[i], model.task_variables(t))):
      expected[v.path] = v.numpy() - LR * weights[i] * grad.numpy()
  return alpha, expected


def check_one_step(name, weights_of, function, seed=1):
  """`name`'s train step == reference_step; returns α."""
  model, batch = _setup(seed)
  alpha, expected = reference_step(model, batch, weights_of)
  tasks = [Task("a", _mse), Task("b", _mse, weight=0.5)]
  step = make_train_step(model, tasks, methods.get(name),
                         keras.optimizers.SGD(LR), function=function)
  logs = step(batch)
  np.testing.assert_allclose([logs["alpha/a"], logs["alpha/b"]], alpha,
                             rtol=1e-4, atol=1e-5)
  for v in model.trainable_variables:
    np.testing.assert_allclose(v.numpy(), expected[v.path], atol=1e-6,
                               err_msg=v.path)
  return alpha


@pytest.mark.parametrize("function", [False, True])
def test_step_matches_the_papers_update(function):
  alpha = check_one_step("mgda_ub", min_norm_two, function)
  assert 0.05 < alpha[0] < 0.95  # the test is about an interior solution


def test_seed_direction_is_a_common_descent_direction_on_z():
  """MGDA's KKT conditions on the representation: s·g_t ≥ ‖s‖² for every t,
  with equality where α_t > 0 (s = Σ α_t g_t, g_t = ∇_Z L_t)."""
  model, batch = _setup(seed=4)
  alpha, _ = reference_step(model, batch, min_norm_two)
  x, y = batch
  with tf.GradientTape(persistent=True) as tape:
    z, heads = model.call_split(x, training=True)
    out = heads(z)
    losses = [tf.reduce_mean(_mse(y[t], out[t])) for t in ("a", "b")]
  g = np.stack([tape.gradient(l, z).numpy().ravel() for l in losses])
  s = alpha @ g
  inner = g @ s
  assert np.all(inner >= s @ s - 1e-6)
  np.testing.assert_allclose(inner[alpha > 1e-6], s @ s, rtol=1e-4)


def test_direct_call_is_mgda_on_j():
  """The aggregator contract: called on J it is MGDA (golden values of
  TorchJD's tests/unit/aggregation/test_values.py)."""
  J = tf.constant([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])
  np.testing.assert_allclose(methods.get("mgda_ub")(J), [0.0, 1.0, 1.0],
                             atol=1e-4)


class _Branching(MultiTaskModel):
  """Two tasks read the shared layer through a shared gate after branching:
  no single representation."""

  def __init__(self):
    super().__init__()
    self.shared = keras.layers.Dense(3, name="shared")
    self.heads = {t: keras.layers.Dense(1, name=t) for t in ("a", "b")}
    self._register(shared=[self.shared],
                   per_task={t: [h] for t, h in self.heads.items()})

  def call(self, inputs, training=False):
    h = self.shared(inputs)
    return {t: head(h * self.shared.kernel[0, 0])
            for t, head in self.heads.items()}


@pytest.mark.parametrize("make", [
    _Branching,
    lambda: models.get("segnet", task_names=["depth", "semantic"],
                       form="single", width=0.125),
])
def test_models_without_a_representation_are_refused(make):
  model = make()
  assert not model.has_representation
  tasks = [Task("a", _mse), Task("b", _mse)]
  if isinstance(model, _Branching):
    model(tf.zeros([1, 2]))
  else:
    tasks = [Task(t, _mse) for t in ("depth", "semantic")]
  with pytest.raises(UserError, match="no single shared representation"):
    make_train_step(model, tasks, methods.get("mgda_ub"),
                    keras.optimizers.SGD(LR))
