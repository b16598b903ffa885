"""Per-sample gradient moments: coupled == the seed's loop, independent ==
per-example gradients with frozen batch statistics."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import losses, per_sample
from tfmtl.errors import UserError
from tfmtl.models.hard_sharing import HardSharingMLP
from tfmtl.models.pose_flow import PoseFlowNet

B = 4


def rot_loss(out, lab):
  return losses.l1(lab, out["rot"])


def flow_loss(out, lab):
  return losses.flow_log_rmse(lab, out["flow"])


@pytest.fixture(scope="module")
def batch():
  rng = np.random.default_rng(0)
  x = {"frames": tf.constant(rng.uniform(size=(B, 32, 48, 6)), tf.float32)}
  y = tf.constant(rng.normal(size=(B, 3)), tf.float32)
  flow = tf.constant(rng.uniform(size=(B, 16, 24, 2)), tf.float32)
  return x, y, flow


def tiny_model(x):
  model = PoseFlowNet(width=0.125, pose_units=512, seed=1)
  model(x)
  return model


def seed_loop(model, images, labels, variables):
  """Seed 000's `get_grad_var` (persistent tape, one gradient per element)."""
  var = [None] * len(variables)
  samples = []
  with tf.GradientTape(persistent=True) as tape:
    batch_loss = rot_loss(model(images, training=True), labels)
    mean = tape.gradient(tf.reduce_mean(batch_loss), variables)
    for k in range(B):
      samples.append(tape.gradient(batch_loss[k], variables))
  for sample in samples:
    for k, (g1, g2) in enumerate(zip(mean, sample)):
      term = (1 / B) * tf.square(g1 - g2)
      var[k] = term if var[k] is None else var[k] + term
  return var


def moving_stats(model):
  return [v.numpy().copy() for v in model.non_trainable_variables]


def freeze_batch_stats(model, x):
  """Independent mechanism: BN momentum 0 and one training call sets the
  moving statistics to the batch's, so inference mode normalises by them."""
  for layer in per_sample._bn_layers(model):
    layer.momentum = 0.0
  model(x, training=True)


def assert_rel_close(actual, expected, rel):
  scale = max(float(np.max(np.abs(e))) for e in expected)
  for a, e in zip(actual, expected):
    np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=rel,
                               atol=rel * scale)


def test_coupled_equals_seed_loop(batch):
  x, y, _ = batch
  model = tiny_model(x)
  shared = model.shared_variables
  before = moving_stats(model)
  _, var = tf.function(lambda: per_sample.gradient_moments(
      model, x, y, rot_loss, shared, mode="coupled"))()
  for a, b in zip(moving_stats(model), before):
    np.testing.assert_array_equal(a, b)  # moving statistics untouched
  ref = tf.function(lambda: seed_loop(model, x, y, shared))()
  assert_rel_close(var, ref, 1e-5)
  assert max(float(tf.reduce_max(v)) for v in var) > 0


def test_coupled_dynamic_batch_matches_static(batch):
  x, y, _ = batch
  model = tiny_model(x)
  shared = model.shared_variables[:4]
  spec = ({"frames": tf.TensorSpec([None, 32, 48, 6])},
          tf.TensorSpec([None, 3]))

  @tf.function(input_signature=spec)
  def dynamic(xx, yy):
    return per_sample.gradient_moments(model, xx, yy, rot_loss, shared,
                                       mode="coupled")

  static = per_sample.gradient_moments(model, x, y, rot_loss, shared,
                                       mode="coupled")
  # The same Welford sums of per-example gradients; the traced while-loop
  # and the unrolled loop may pick other conv algorithms and summation
  # orders (measured 1.3e-6 of the largest entry): checked at 3e-5.
  assert_rel_close(dynamic(x, y)[1], static[1], 3e-5)
  assert_rel_close(dynamic(x, y)[0], static[0], 3e-5)


def test_independent_equals_per_example_reference(batch):
  x, _, flow = batch
  model = tiny_model(x)
  shared = model.shared_variables
  before = moving_stats(model)
  mean, var = tf.function(lambda: per_sample.gradient_moments(
      model, x, flow, flow_loss, shared, mode="independent"))()
  for a, b in zip(moving_stats(model), before):
    np.testing.assert_array_equal(a, b)
  # Reference: eager, one example at a time, BN frozen at the batch stats.
  freeze_batch_stats(model, x)
  per_example = []
  for i in range(B):
    with tf.GradientTape() as tape:
      xi = {"frames": x["frames"][i:i + 1]}
      loss = flow_loss(model(xi, training=False), flow[i:i + 1])[0]
    per_example.append([g.numpy() for g in tape.gradient(loss, shared)])
  stacked = [np.stack(g) for g in zip(*per_example)]
  ref_mean = [g.mean(0) for g in stacked]
  ref_var = [((g - g.mean(0)) ** 2).mean(0) for g in stacked]
  assert_rel_close(mean, ref_mean, 1e-4)
  assert_rel_close(var, ref_var, 1e-4)
  # Mean == gradient of the mean loss with stop-gradient batch statistics.
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(flow_loss(model(x, training=False), flow))
  assert_rel_close(mean, tape.gradient(loss, shared), 1e-4)


def test_independent_mean_differs_from_coupled_batch_gradient(batch):
  """Holding the statistics fixed matters: the batch gradient through them
  (training mode) differs."""
  x, y, _ = batch
  model = tiny_model(x)
  shared = model.shared_variables[:2]
  mean, _ = per_sample.gradient_moments(model, x, y, rot_loss, shared)
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(rot_loss(model(x, training=True), y))
  coupled_mean = tape.gradient(loss, shared)
  # Same forward, gradients differ only through the statistics' gradient.
  assert not np.allclose(mean[0], coupled_mean[0], rtol=1e-3)


def test_model_without_batchnorm_has_dropout_off():
  rng = np.random.default_rng(1)
  x = tf.constant(rng.normal(size=(5, 6)), tf.float32)
  y = tf.constant(rng.normal(size=(5, 1)), tf.float32)
  model = HardSharingMLP(["a", "b"], trunk_units=[8], tower_units=[4],
                         dropout=0.5)
  model(x)
  fn = lambda out, lab: losses.mse(lab, out["a"])  # noqa: E731
  shared = model.shared_variables
  for mode in per_sample.MODES:
    mean, var = per_sample.gradient_moments(model, x, y, fn, shared, mode)
    grads = []
    for i in range(5):
      with tf.GradientTape() as tape:
        loss = fn(model(x[i:i + 1], training=False), y[i:i + 1])[0]
      grads.append([g.numpy() for g in tape.gradient(loss, shared)])
    stacked = [np.stack(g) for g in zip(*grads)]
    assert_rel_close(mean, [g.mean(0) for g in stacked], 1e-5)
    assert_rel_close(var, [g.var(0) for g in stacked], 1e-5)


def test_bad_mode_is_a_user_error(batch):
  x, y, _ = batch
  model = tiny_model(x)
  with pytest.raises(UserError, match="independent"):
    per_sample.gradient_moments(model, x, y, rot_loss,
                                model.shared_variables, mode="exact")


@pytest.mark.parametrize("mode", per_sample.MODES)
def test_several_losses_in_one_pass_equal_separate_calls(batch, mode):
  """gradient_moments_of_losses shares the forwards, not the answers."""
  x, y, flow = batch
  model = PoseFlowNet(width=0.125, pose_units=64, seed=2)
  model(x)
  shared = model.shared_variables
  labels = {"rot": y, "flow": flow}
  fns = [lambda out, lab: rot_loss(out, lab["rot"]),
         lambda out, lab: flow_loss(out, lab["flow"])]
  together = tf.function(lambda: per_sample.gradient_moments_of_losses(
      model, x, labels, fns, shared, mode))()
  for (mean, var), fn in zip(together, fns):
    want_mean, want_var = tf.function(lambda fn=fn: per_sample.gradient_moments(
        model, x, labels, fn, shared, mode))()
    assert_rel_close(mean, want_mean, 1e-5)
    assert_rel_close(var, want_var, 1e-4)


def _linear():
  """y = x W + b: example i's gradient of (y_i − t_i)² is 2 r_i [x_i, 1]."""
  inp = keras.Input((3,))
  out = keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant(
      [[0.5], [-1.0], [2.0]]), bias_initializer="ones")(inp)
  return keras.Model(inp, out)


@pytest.mark.parametrize("mode", per_sample.MODES)
@pytest.mark.parametrize("dynamic", [False, True])
def test_weighted_moments_equal_numpy(mode, dynamic):
  rng = np.random.default_rng(7)
  x = rng.normal(size=(5, 3)).astype(np.float32)
  t = rng.normal(size=(5, 1)).astype(np.float32)
  s = np.array([1.0, 0.0, 2.0, 0.5, 1.0], np.float32)  # example 1 unlabelled
  model = _linear()
  fns = [lambda out, lab: tf.reduce_sum(tf.square(out - lab), axis=-1)] * 2
  sig = [tf.TensorSpec([None, 3]), tf.TensorSpec([None, 1]),
         tf.TensorSpec([None])]
  run = lambda xx, tt, ss: per_sample.gradient_moments_of_losses(
      model, xx, tt, fns, model.trainable_variables, mode,
      weights=[ss, None])  # the second loss unweighted
  if dynamic:
    run = tf.function(run, input_signature=sig)
  (mean, var), (mean1, var1) = run(tf.constant(x), tf.constant(t),
                                   tf.constant(s))
  r = x @ np.array([0.5, -1.0, 2.0]) + 1.0 - t[:, 0]
  g = 2 * r[:, None] * np.concatenate([x, np.ones((5, 1))], axis=1)  # [B, 4]
  m = (s[:, None] * g).sum(0) / s.sum()
  v = (s[:, None] * (g - m) ** 2).sum(0) / s.sum()
  got_m = np.concatenate([np.ravel(a) for a in mean])
  got_v = np.concatenate([np.ravel(a) for a in var])
  np.testing.assert_allclose(got_m, m, rtol=1e-5)
  np.testing.assert_allclose(got_v, v, rtol=1e-4)
  # Unweighted: the plain moments, as before.
  np.testing.assert_allclose(np.concatenate([np.ravel(a) for a in var1]),
                             g.var(0), rtol=1e-4)
  np.testing.assert_allclose(np.concatenate([np.ravel(a) for a in mean1]),
                             g.mean(0), rtol=1e-5)


def test_weighted_moments_with_no_labelled_example_are_zero():
  model = _linear()
  x, t = tf.ones([3, 3]), tf.ones([3, 1])
  mean, var = per_sample.gradient_moments_of_losses(
      model, x, t, [lambda out, lab: tf.reduce_sum(out - lab, axis=-1)],
      model.trainable_variables, weights=[tf.zeros([3])])[0]
  for a in mean + var:
    np.testing.assert_array_equal(a, np.zeros(a.shape))
