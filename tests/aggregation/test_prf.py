"""PRF: β is the ratio of two Gaussian densities; the step runs end to end."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import aggregation, losses
from tfmtl.aggregation.prf import PRF, probability_ratio
from tfmtl.errors import UserError
from tfmtl.models.pose_flow import PoseFlowNet
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step

W = {"trans": 1.0, "rot": 10.0, "flow": 0.1}
# β and the combined gradient against float64 references: a few float32
# roundings (sqrt, exp, a ratio, products: ≤ 5 × 6e-8 = 3e-7 relative;
# measured ≤ 1.2e-7); checked at 10× the bound.
RTOL = 3e-6


def vo_tasks():
  return [Task("trans", losses.l1, W["trans"], "main"),
          Task("rot", losses.l1, W["rot"], "main"),
          Task("flow", losses.flow_log_rmse, W["flow"], "aux")]


def normal_pdf(x, mean, var):
  return np.exp(-(x - mean) ** 2 / (2 * var)) / np.sqrt(2 * np.pi * var)


def built(num_params=2, **kwargs):
  prf = PRF(main_task="rot", **kwargs)
  prf.build(vo_tasks(), num_params=num_params)
  return prf


def test_ratio_is_gaussian_density_ratio():
  rng = np.random.default_rng(0)
  gm, ga = rng.normal(size=(2, 100))
  vm, va = rng.uniform(0.1, 2.0, size=(2, 100))
  got = probability_ratio(gm, ga, vm, va).numpy()
  want = normal_pdf(ga, gm, vm) / normal_pdf(ga, ga, va)
  np.testing.assert_allclose(got, want, rtol=RTOL)


def test_beta_is_w_aux_times_ratio():
  rng = np.random.default_rng(1)
  J = tf.constant(rng.normal(size=(3, 5)), tf.float32)
  var = tf.constant(rng.uniform(0.5, 2.0, size=(3, 5)), tf.float32)
  d = built(5)(J, variance=var).numpy()
  j, v = J.numpy(), var.numpy()
  main = W["trans"] * j[0] + W["rot"] * j[1]
  beta = W["flow"] * normal_pdf(j[2], j[1], v[1]) / normal_pdf(j[2], j[2],
                                                               v[2])
  np.testing.assert_allclose(d, main + beta * j[2], rtol=1e-5)


def test_identical_gradients_equal_variances_give_w_aux():
  g = tf.constant([[0.3, -1.0, 2.0, 0.5]] * 3)
  prf = PRF()
  prf.build(vo_tasks(), num_params=4)
  d = prf(g, variance=tf.fill([3, 4], 0.7))
  np.testing.assert_allclose(d, (W["trans"] + W["rot"] + W["flow"]) *
                             g[1].numpy(), rtol=RTOL)
  assert prf.main == 0  # default: the first main task (trans)
  np.testing.assert_allclose(prf.logs()["beta/shared"], W["flow"], rtol=RTOL)


def test_conflicting_aux_gradient_is_suppressed():
  g = tf.constant([[0.0, 0.0], [1.0, -2.0], [-1.0, 2.0]])
  var = tf.fill([3, 2], 0.01)
  d = built()(g, variance=var)
  np.testing.assert_allclose(d, W["rot"] * g[1].numpy(), atol=1e-12)
  # ATG keeps the conflicting auxiliary gradient.
  atg = aggregation.get("atg")
  atg.build(vo_tasks())
  np.testing.assert_allclose(atg(g), (W["rot"] - W["flow"]) * g[1].numpy(),
                             rtol=RTOL)


def test_every_k_reuses_stored_variance():
  J = tf.constant([[0.0] * 2, [1.0, 1.0], [0.5, 1.5]])
  v1, v2 = tf.fill([3, 2], 1.0), tf.fill([3, 2], 4.0)
  fresh, every = built(), built(every=2)
  step = tf.function(lambda v: every(J, variance=v))
  np.testing.assert_allclose(step(v1), fresh(J, variance=v1), rtol=RTOL)
  np.testing.assert_allclose(step(v2), fresh(J, variance=v1), rtol=RTOL)
  np.testing.assert_allclose(step(v2), fresh(J, variance=v2), rtol=RTOL)


def test_ema_smooths_variance():
  J = tf.constant([[0.0] * 2, [1.0, 1.0], [0.5, 1.5]])
  v1, v2 = tf.fill([3, 2], 1.0), tf.fill([3, 2], 4.0)
  fresh, ema = built(), built(ema=0.9)
  np.testing.assert_allclose(ema(J, variance=v1), fresh(J, variance=v1),
                             rtol=RTOL)
  np.testing.assert_allclose(ema(J, variance=v2),
                             fresh(J, variance=0.9 * v1 + 0.1 * v2),
                             rtol=RTOL)


def test_logs_mean_beta_per_layer():
  a, b = keras.Variable(tf.zeros([2, 2]), name="k"), keras.Variable(
      tf.zeros([2]), name="b")
  prf = PRF(main_task="rot")
  prf.build(vo_tasks(), num_params=6, shared_variables=[a, b])
  J = tf.constant([[0.0] * 6, [1.0] * 6, [1.0] * 4 + [9.0] * 2])
  prf(J, variance=tf.ones([3, 6]))
  logs = prf.logs()
  assert sorted(logs) == ["agree/b", "agree/k", "beta/b", "beta/k",
                          "scale/b", "scale/k"]
  np.testing.assert_allclose(logs["beta/k"], W["flow"], rtol=1e-5)
  np.testing.assert_allclose(logs["beta/b"], W["flow"] * np.exp(-32),
                             rtol=1e-5)
  np.testing.assert_allclose(logs["agree/b"], np.exp(-32), rtol=1e-5)
  np.testing.assert_allclose(logs["scale/k"], 1.0, rtol=RTOL)


def test_logs_are_layer_means_and_the_scale_a_geometric_mean():
  """Per layer: beta and agree are arithmetic means of β and of the
  agreement factor over the layer's elements, scale the geometric mean of
  √(v_aux/v_main) (an arithmetic one would be led by its largest ratio)."""
  a, b = keras.Variable(tf.zeros([2, 2]), name="k"), keras.Variable(
      tf.zeros([2]), name="b")
  prf = PRF(main_task="rot")
  prf.build(vo_tasks(), num_params=6, shared_variables=[a, b])
  rng = np.random.default_rng(21)
  J = rng.normal(size=(3, 6)).astype(np.float32)
  v = rng.uniform(0.2, 5.0, size=(3, 6)).astype(np.float32)
  prf(tf.constant(J), variance=tf.constant(v))
  logs = prf.logs()
  j, var = J.astype(np.float64), v.astype(np.float64)
  ratio = np.sqrt(var[2] / var[1])
  agree = np.exp(-(j[1] - j[2]) ** 2 / (2 * var[1]))
  beta = W["flow"] * ratio * agree
  for layer, cols in (("k", slice(0, 4)), ("b", slice(4, 6))):
    np.testing.assert_allclose(logs[f"beta/{layer}"], beta[cols].mean(),
                               rtol=RTOL)
    np.testing.assert_allclose(logs[f"agree/{layer}"], agree[cols].mean(),
                               rtol=RTOL)
    np.testing.assert_allclose(logs[f"scale/{layer}"],
                               np.exp(np.log(ratio[cols]).mean()), rtol=RTOL)
  assert abs(ratio[:4].mean() - np.exp(np.log(ratio[:4]).mean())) > 0.05


def test_every_k_with_an_absent_task_starts_its_ema_at_its_first_read():
  """every = 2, ema = 0.4: the flow task absent at call 0 (a refresh), so
  its row is not started; present at call 1 (no refresh: nothing is
  read); at call 2 (a refresh) its first variance replaces the stored 0
  rather than being averaged with it."""
  prf = built(every=2, ema=0.4)
  J = tf.constant([[0.3, -0.2], [1.0, 1.0], [0.5, 1.5]])
  v = [tf.constant(np.full((3, 2), x, np.float32)) for x in (1.0, 2.0, 3.0)]
  present = [[True, True, False], [True, True, True], [True, True, True]]
  for k in range(3):
    prf(J, variance=v[k], present=tf.constant(present[k]))
  # Rows: (rot, flow). rot: 1 at call 0, then 0.4·1 + 0.6·3 at call 2.
  np.testing.assert_allclose(prf._variance.numpy(),
                             [[0.4 + 1.8] * 2, [3.0, 3.0]], rtol=RTOL)


def test_bad_roles_are_user_errors():
  tasks = vo_tasks()
  with pytest.raises(UserError, match="main_task"):
    PRF(main_task="flow").build(tasks)
  with pytest.raises(UserError, match="aux"):
    PRF().build(tasks[:2])


def make_step(strategy, model_seed=3):
  with strategy.scope():
    model = PoseFlowNet(width=0.0625, pose_units=128, seed=model_seed,
                        synchronized_bn=True)
    model({"frames": tf.zeros([2, 32, 32, 6])})
    method = aggregation.get("prf", main_task="rot")
    opt = keras.optimizers.SGD(0.01)
  step = make_train_step(model, vo_tasks(), method, opt, strategy=strategy,
                         clip_by_value={r"shared_conv_\d+/kernel$": 1e-3})
  return model, step


def test_prf_step_mirrored_equals_single_device(mirrored):
  rng = np.random.default_rng(2)
  x = {"frames": tf.constant(rng.uniform(size=(4, 32, 32, 6)), tf.float32)}
  y = {"trans": tf.constant(rng.normal(size=(4, 3)), tf.float32),
       "rot": tf.constant(rng.normal(size=(4, 3)), tf.float32),
       "flow": tf.constant(rng.uniform(size=(4, 16, 16, 2)), tf.float32)}
  single_model, single = make_step(tf.distribute.get_strategy())
  multi_model, multi = make_step(mirrored)
  dist = iter(mirrored.experimental_distribute_dataset(
      tf.data.Dataset.from_tensors((x, y)).repeat()))
  start = [v.numpy() for v in single_model.trainable_variables]
  for i in range(2):
    logs_1 = single((x, y))
    logs_2 = multi(next(dist))
    assert any(k.startswith("beta/shared_conv_") for k in logs_1)
    for k in logs_1:
      # Two replicas sum the losses, J and the variances in another order
      # than one device (float32: ~1e-7 relative a sum), and β = exp(log-
      # ratio) multiplies that rounding by (g_m − g_a)²/v_m, the second
      # step's losses carry the first update's. Measured (oneDNN on and
      # off, 2 steps): losses 6e-6 relative, the rest 3e-5, β and scale of
      # size < 1e-2 6e-8 absolute; checked at 10× each.
      rtol = 6e-5 if k.startswith("loss/") or k == "total_loss" else 3e-4
      np.testing.assert_allclose(logs_2[k], logs_1[k], rtol=rtol, atol=1e-6,
                                 err_msg=k)
    if i == 0:  # later steps drift chaotically (the flow loss clips)
      # The first update, against the largest one (0.17, BatchNorm γ):
      # measured 1.4e-5 of it; checked at 2e-4. Relative to each
      # variable's own update it can't be: some get ~1e-8 from gradients
      # that cancel, which the rounding dominates.
      moved = [b.numpy() - s for b, s in
               zip(single_model.trainable_variables, start)]
      largest = max(np.abs(m).max() for m in moved)
      for a, m, s in zip(multi_model.trainable_variables, moved, start):
        np.testing.assert_allclose(a.numpy() - s, m, rtol=0,
                                   atol=2e-4 * largest, err_msg=a.path)
  assert len(single._clip_values) - single._clip_values.count(None) == 9


def _mlp_and_tasks():
  """A small built MLP with main task a and auxiliary task b (call it in
  the strategy's scope)."""
  from tfmtl.models.hard_sharing import HardSharingMLP  # pylint: disable=g-import-not-at-top
  mse = lambda y, p: tf.reduce_mean(tf.square(y - p), axis=-1)
  tasks = [Task("a", mse, 1.0, "main"), Task("b", mse, 0.5, "aux")]
  model = HardSharingMLP(["a", "b"], trunk_units=(6,), tower_units=(3,),
                         dropout=0.0, seed=1)
  model(tf.zeros([1, 4]))
  return model, tasks


def _mlp_run(strategy, every, function=True, steps=5, always=False):
  """PRF(every) on a small MLP with an auxiliary task; final weights."""
  with strategy.scope():
    model, tasks = _mlp_and_tasks()
    method = aggregation.get("prf", every=every)
    if always:  # the step computes the variance on every call, as before
      method.variance_due = lambda: None
    step = make_train_step(model, tasks, method, keras.optimizers.SGD(0.05),
                           strategy=strategy, function=function)
  rng = np.random.default_rng(0)
  x = rng.normal(size=(steps * 8, 4)).astype(np.float32)
  y = {"a": x[:, :1] * 2.0, "b": np.sin(x[:, 1:2]) - x[:, 2:3]}
  data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
  if strategy is not tf.distribute.get_strategy():
    data = strategy.experimental_distribute_dataset(data)
  for batch in data:
    step(batch)
  return [v.numpy() for v in model.trainable_variables]


def test_every_k_computes_the_variance_only_when_it_is_read(monkeypatch):
  from tfmtl import per_sample  # pylint: disable=g-import-not-at-top
  calls = []
  original = per_sample.gradient_moments_of_losses
  monkeypatch.setattr(per_sample, "gradient_moments_of_losses",
                      lambda *a, **k: calls.append(1) or original(*a, **k))
  default = tf.distribute.get_strategy()
  # Eagerly the cond runs one branch: 5 steps, due at calls 0 and 3 (one
  # pass for main + aux each time).
  skipping = _mlp_run(default, every=3, function=False)
  assert len(calls) == 2
  computing = _mlp_run(default, every=3, function=False, always=True)
  assert len(calls) == 2 + 5
  for a, b in zip(skipping, computing):
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-7)


def test_every_k_step_mirrored_equals_single_device(mirrored):
  single = _mlp_run(tf.distribute.get_strategy(), every=2)
  multi = _mlp_run(mirrored, every=2)
  for a, b in zip(single, multi):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# --- variants: hand-made J and variances ---------------------------------

MA = [Task("m", losses.l1, 1.0, "main"), Task("a", losses.l1, 0.5, "aux")]


def variant(num_params=2, shared_variables=None, **kwargs):
  prf = PRF(**kwargs)
  prf.build(MA, num_params=num_params, shared_variables=shared_variables)
  return prf


def aux_part(prf, j, v):
  """β ⊙ g_aux: the update minus the main gradient."""
  return (prf(tf.constant(j), variance=tf.constant(v)) - j[0]).numpy()


def test_mean_variance_divides_by_batch_size():
  # Element 0: gap 0.5, v_m = 1, v_a = 4; element 1: identical gradients.
  j = np.array([[1.0, 2.0], [1.5, 2.0]], np.float32)
  v = np.array([[1.0, 1.0], [4.0, 1.0]], np.float32)
  paper = aux_part(variant(), j, v)
  mean = aux_part(variant(variance="mean", batch_size=4), j, v)
  # √(v_a/v_m) = 2 either way; the exponent is −0.5·0.25/1 (paper) and
  # −0.5·0.25/(1/4) (batch-mean variance).
  np.testing.assert_allclose(paper, [0.5 * 2 * np.exp(-0.125) * 1.5,
                                     0.5 * 2.0], rtol=RTOL)
  np.testing.assert_allclose(mean, [0.5 * 2 * np.exp(-0.5) * 1.5,
                                    0.5 * 2.0], rtol=RTOL)


@pytest.mark.parametrize("variance,batch,want_exponent", [
    ("sample", None, -4.0),   # −0.5 · 2² / 0.5
    ("mean", 8, -32.0),       # −0.5 · 2² / (0.5 / 8)
])
def test_conflict_agreement_and_noise(variance, batch, want_exponent):
  agree = np.array([[1.0, -1.0], [1.0, -1.0]], np.float32)
  conflict = np.array([[1.0, -1.0], [-1.0, 1.0]], np.float32)
  sure, noisy = np.full([2, 2], 0.5, np.float32), np.full([2, 2], 50.0,
                                                          np.float32)
  prf = variant(variance=variance, batch_size=batch)
  # Agreeing, equal variances: β = w_aux.
  np.testing.assert_allclose(aux_part(prf, agree, sure), 0.5 * agree[1],
                             rtol=RTOL)
  # Conflicting with small variances: suppressed by exp(exponent).
  np.testing.assert_allclose(aux_part(prf, conflict, sure),
                             0.5 * np.exp(want_exponent) * conflict[1],
                             rtol=1e-5, atol=1e-7)
  # (β itself, exactly: the update above rounds β·g_aux against g_main.)
  np.testing.assert_allclose(prf.logs()["beta/shared"],
                             0.5 * np.exp(want_exponent), rtol=1e-5)
  # The same conflict under 100× the variance is not significant: the
  # exponent shrinks 100×.
  np.testing.assert_allclose(aux_part(prf, conflict, noisy),
                             0.5 * np.exp(want_exponent / 100) * conflict[1],
                             rtol=1e-5)
  np.testing.assert_allclose(prf.logs()["agree/shared"],
                             np.exp(want_exponent / 100), rtol=1e-5)


def test_layer_granularity_pools_statistics_per_layer():
  d1, d2 = keras.layers.Dense(1, name="d1"), keras.layers.Dense(2, name="d2")
  d1.build((None, 3))  # 3 + 1 columns
  d2.build((None, 1))  # 2 + 2 columns
  shared = d1.trainable_variables + d2.trainable_variables
  j = np.array([[1, 1, 1, 1, 0, 0, 0, 0],
                [1, 1, 1, -1, 0, 0, 0, 3]], np.float32)
  v = np.array([[1, 1, 1, 1, 1, 1, 1, 1],
                [4, 4, 4, 4, 1, 1, 1, 1]], np.float32)
  layer = variant(8, shared, granularity="layer")
  got = aux_part(layer, j, v)
  # d1: √(16/4) · exp(−0.5 · 4/4); d2: √(4/4) · exp(−0.5 · 9/4).
  beta = np.array([2 * np.exp(-0.5)] * 4 + [np.exp(-9 / 8)] * 4)
  np.testing.assert_allclose(got, 0.5 * beta * j[1], rtol=RTOL)
  logs = layer.logs()
  np.testing.assert_allclose(logs["beta/d1"], np.exp(-0.5), rtol=RTOL)
  np.testing.assert_allclose(logs["scale/d1"], 2.0, rtol=RTOL)
  np.testing.assert_allclose(logs["agree/d2"], np.exp(-9 / 8), rtol=RTOL)
  # Per element, d1's three agreeing elements keep β = 0.5 · 2 and the
  # fourth is cut to 0.5 · 2 · e^−2.
  element = aux_part(variant(8, shared), j, v)
  np.testing.assert_allclose(element[:4], [1.0, 1.0, 1.0, -np.exp(-2.0)],
                             rtol=RTOL)


def test_layer_and_mean_combine():
  d1 = keras.layers.Dense(1, name="d1")
  d1.build((None, 1))
  j = np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)
  v = np.array([[2.0, 2.0], [2.0, 2.0]], np.float32)
  prf = variant(2, d1.trainable_variables, granularity="layer",
                variance="mean", batch_size=4)
  prf(tf.constant(j), variance=tf.constant(v))
  # Σ gap² = 1, Σ v_m / B = 4 / 4: exp(−0.5).
  np.testing.assert_allclose(prf.logs()["agree/d1"], np.exp(-0.5),
                             rtol=RTOL)


def test_gate_ema_smooths_beta():
  j1 = np.array([[1.0, 1.0], [1.0, 1.0]], np.float32)
  j2 = np.array([[1.0, 1.0], [-1.0, 1.0]], np.float32)
  v = np.ones([2, 2], np.float32)
  smooth = variant(gate_ema=0.75)
  step = tf.function(lambda j: smooth(j, variance=tf.constant(v)))
  step(tf.constant(j1))  # β = 0.5 everywhere
  got = (step(tf.constant(j2)) - j2[0]).numpy()
  beta = 0.75 * 0.5 + 0.25 * 0.5 * np.array([np.exp(-2.0), 1.0])
  np.testing.assert_allclose(got, beta * j2[1], rtol=RTOL)


def test_variant_arguments_are_checked():
  with pytest.raises(UserError, match="batch_size"):
    PRF(variance="mean")
  with pytest.raises(UserError, match="variance"):
    PRF(variance="batch")
  with pytest.raises(UserError, match="granularity"):
    PRF(granularity="tensor")
  with pytest.raises(UserError, match="gate_ema"):
    PRF(gate_ema=1.0)


# --- partly labelled data -------------------------------------------------

def _ratio(gm, ga, vm, va, eps=1e-19):
  return np.sqrt((va + eps) / (vm + eps)) * np.exp(
      -(gm - ga) ** 2 / (2 * (vm + eps)))


def test_absent_tasks_keep_their_variance_and_gate():
  tasks = [Task("m", losses.l1, 1.0, "main"), Task("a", losses.l1, 0.5, "aux"),
           Task("b", losses.l1, 0.25, "aux")]
  prf = PRF(ema=0.3, gate_ema=0.7)  # neither decay is 1 − the other's
  prf.build(tasks, num_params=2)
  step = tf.function(lambda j, v, p: prf(j, variance=v, present=p))
  rng = np.random.default_rng(8)
  js = rng.normal(size=(3, 3, 2)).astype(np.float32)
  vs = rng.uniform(0.5, 2.0, size=(3, 3, 2)).astype(np.float32)
  call = lambda k, p: step(tf.constant(js[k]), tf.constant(vs[k]),
                           tf.constant(p)).numpy()
  call(0, [True, True, True])
  var, gate = vs[0].copy(), np.stack(
      [w * _ratio(js[0][0], js[0][i], vs[0][0], vs[0][i])
       for i, w in ((1, 0.5), (2, 0.25))])
  # a absent (its row, nonzero here, ignored): its variance and gate stay.
  d = call(1, [True, False, True])
  var[[0, 2]] = 0.3 * var[[0, 2]] + 0.7 * vs[1][[0, 2]]
  gate[1] = 0.7 * gate[1] + 0.3 * 0.25 * _ratio(js[1][0], js[1][2],
                                                var[0], var[2])
  np.testing.assert_allclose(d, js[1][0] + gate[1] * js[1][2], rtol=1e-5)
  np.testing.assert_allclose(prf._variance.numpy(), var, rtol=RTOL)
  np.testing.assert_allclose(prf._gate.numpy(), gate, rtol=1e-5)
  assert float(prf.logs()["beta/a/shared"]) == 0.0
  # The main task absent: the aux gradients at their configured weight
  # (ATG); the main variance and every gate stay.
  d = call(2, [False, True, True])
  var[[1, 2]] = 0.3 * var[[1, 2]] + 0.7 * vs[2][[1, 2]]
  np.testing.assert_allclose(d, 0.5 * js[2][1] + 0.25 * js[2][2], rtol=RTOL)
  np.testing.assert_allclose(prf._variance.numpy(), var, rtol=RTOL)
  np.testing.assert_allclose(prf._gate.numpy(), gate, rtol=1e-5)


def _weighted_run(strategy, subset):
  """Two PRF steps on an MLP; sample weights (labelled: KEEP) or, with
  `subset`, the labelled examples alone without weights."""
  with strategy.scope():
    model, tasks = _mlp_and_tasks()
    step = make_train_step(model, tasks, aggregation.get("prf", ema=0.5),
                           keras.optimizers.SGD(0.1), strategy=strategy)
  rng = np.random.default_rng(3)
  keep = np.array([1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 0], bool)
  for _ in range(2):
    x = rng.normal(size=(12, 4)).astype(np.float32)
    y = {"a": x[:, :1] * 2.0, "b": np.sin(x[:, 1:2]) - x[:, 2:3]}
    if subset:
      batch = (x[keep], {k: v[keep] for k, v in y.items()})
    else:
      s = keep.astype(np.float32)
      batch = (x, y, {"a": s, "b": s})
    data = tf.data.Dataset.from_tensors(batch)
    if strategy is not tf.distribute.get_strategy():
      data = strategy.experimental_distribute_dataset(data)
    logs = step(next(iter(data)))
  assert np.isfinite(float(logs["beta/shared_dense_0"]))
  return [v.numpy() for v in model.trainable_variables]


@pytest.mark.parametrize("where", ["single", "mirrored"])
def test_weighted_step_equals_the_labelled_subset(where, mirrored):
  # The variance is the per-sample variance over the labelled examples:
  # the weighted step is the step on those examples (replicas: 6 + 6
  # examples holding 4 + 2 labelled ones, against 6 alone; the moments
  # combine by weight sums).
  strategy = mirrored if where == "mirrored" else tf.distribute.get_strategy()
  weighted = _weighted_run(strategy, subset=False)
  alone = _weighted_run(tf.distribute.get_strategy(), subset=True)
  for a, b in zip(weighted, alone):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
