"""MGDA: the min-norm KKT conditions."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.aggregation import solvers
from tfmtl.aggregation.mgda import MGDA
from tfmtl.errors import UserError


def test_kkt_of_min_norm_point():
  # w solves min wᵀGw on the simplex iff (Gw)_i ≥ wᵀGw for all i, with
  # equality where w_i > 0 (Sener & Koltun 2018, eq. 3).
  rng = np.random.default_rng(0)
  for t in (2, 3, 5):
    J = rng.normal(size=(t, 7)).astype(np.float32)
    w = solvers.min_norm_weights(solvers.gramian(tf.constant(J))).numpy()
    G = J.astype(np.float64) @ J.T
    assert np.all(w >= -1e-6) and abs(w.sum() - 1) < 1e-5
    grad, value = G @ w, w @ G @ w
    scale = np.trace(G) / t
    assert np.all(grad >= value - 1e-4 * scale)
    np.testing.assert_allclose(grad[w > 1e-4], value, atol=1e-4 * scale)
    d = MGDA()(tf.constant(J)).numpy()
    assert np.all(J @ d >= d @ d - 1e-4 * scale)  # common descent direction


# --- LibMTL's gradient normalisations -------------------------------------
# A numpy transcription of LibMTL/weighting/MGDA.py (_gradient_normalizers,
# _find_min_norm_element with its T = 2 closed form and Frank-Wolfe for
# T ≥ 3, and d = Σ_t sol_t ĝ_t from _backward_new_grads).


def _libmtl_min_norm(grads, ridge=0.0):
  def from2(v11, v12, v22):
    if v12 >= v11:
      return 0.999, v11
    if v12 >= v22:
      return 0.001, v22
    gamma = -1.0 * ((v12 - v22) / (v11 + v22 - 2 * v12))
    return gamma, v22 + gamma * (v12 - v22)

  def proj(y):
    m = len(y)
    sy = np.sort(y)[::-1]
    tmpsum, tmax_f = 0.0, (np.sum(y) - 1.0) / m
    for i in range(m - 1):
      tmpsum += sy[i]
      tmax = (tmpsum - 1) / (i + 1.0)
      if tmax > sy[i + 1]:
        tmax_f = tmax
        break
    return np.maximum(y - tmax_f, 0.0)

  def next_point(cur, grad, n):
    pg = grad - np.sum(grad) / n
    tm1 = -1.0 * cur[pg < 0] / pg[pg < 0]
    tm2 = (1.0 - cur[pg > 0]) / pg[pg > 0]
    t = 1.0
    if (tm1 > 1e-7).sum() > 0:
      t = np.min(tm1[tm1 > 1e-7])
    if (tm2 > 1e-7).sum() > 0:
      t = min(t, np.min(tm2[tm2 > 1e-7]))
    return proj(pg * t + cur)

  G = grads @ grads.T
  n = grads.shape[0]
  G = G + ridge * np.trace(G) / n * np.eye(n)  # (ours: solvers._RIDGE)
  dmin = 1e8
  for i in range(n):
    for j in range(i + 1, n):
      c, d = from2(G[i, i], G[i, j], G[j, j])
      if d < dmin:
        dmin, sol = d, ((i, j), c)
  w = np.zeros(n)
  w[sol[0][0]], w[sol[0][1]] = sol[1], 1 - sol[1]
  if n < 3:
    return w
  for _ in range(250):
    new = next_point(w, -1.0 * G @ w, n)
    v11, v12, v22 = w @ G @ w, w @ G @ new, new @ G @ new
    nc, _ = from2(v11, v12, v22)
    new_w = nc * w + (1 - nc) * new
    if np.sum(np.abs(new_w - w)) < 1e-5:
      return w
    w = new_w
  return w


def _libmtl_mgda(J, losses, ntype, ridge=0.0):
  norms = np.sqrt((J ** 2).sum(-1))
  gn = {"none": np.ones_like(losses), "l2": norms, "loss": losses,
        "loss+": losses * norms}[ntype]
  grads = J / gn[:, None]
  return _libmtl_min_norm(grads, ridge) @ grads


@pytest.mark.parametrize("ntype", ["none", "l2", "loss", "loss+"])
def test_normalisations_match_libmtl_two_tasks(ntype):
  # T = 2: LibMTL's solution is exact unless it lands on an end (0.999 /
  # 0.001 there); these draws have interior solutions. Its closed form is
  # run on the Gramian with our solver's ridge (1e-6·mean(diag G), which
  # moves d by up to 4e-6 here), so what is left is float32 round-off
  # (≤ 6e-7 measured, oneDNN on and off); checked at 1e-5.
  rng = np.random.default_rng(3)
  checked = 0
  for _ in range(6):
    J = rng.normal(size=(2, 6)) * [[0.3], [2.0]]
    losses = rng.uniform(0.2, 3.0, size=2)
    ours = MGDA(normalization=ntype)(tf.constant(J, tf.float32),
                                    losses=tf.constant(losses, tf.float32))
    ref = _libmtl_mgda(J, losses, ntype, ridge=1e-6)
    gj = J / {"none": 1.0, "l2": np.linalg.norm(J, axis=1),
              "loss": losses, "loss+": losses * np.linalg.norm(J, axis=1)
              }[ntype][..., None] if ntype != "none" else J
    G = gj @ gj.T
    if G[0, 1] >= min(G[0, 0], G[1, 1]):
      continue  # an end: LibMTL's 0.999 / 0.001
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
    checked += 1
  assert checked >= 3


@pytest.mark.parametrize("ntype", ["none", "l2", "loss", "loss+"])
def test_normalisations_match_libmtl_three_tasks(ntype):
  # T = 3: LibMTL's Frank-Wolfe stops at a change < 1e-5; we are exact, so
  # the comparison is at the Frank-Wolfe's accuracy on these draws.
  rng = np.random.default_rng(5)
  for _ in range(3):
    J = rng.normal(size=(3, 8)) * [[0.5], [1.0], [3.0]]
    losses = rng.uniform(0.2, 3.0, size=3)
    ours = MGDA(normalization=ntype)(tf.constant(J, tf.float32),
                                    losses=tf.constant(losses, tf.float32))
    np.testing.assert_allclose(ours, _libmtl_mgda(J, losses, ntype),
                               rtol=1e-3, atol=1e-3)


def test_normalisation_needs_and_errors():
  assert MGDA().needs == frozenset()
  assert MGDA(normalization="l2").needs == frozenset()
  assert MGDA(normalization="loss").needs == frozenset({"losses"})
  with pytest.raises(UserError, match="normalization"):
    MGDA(normalization="L2")


def test_loss_normalisation_in_the_train_step():
  # The step hands the global losses to a method that needs them.
  import keras  # pylint: disable=import-outside-toplevel
  from tfmtl.models.hard_sharing import HardSharingMLP  # pylint: disable=import-outside-toplevel
  from tfmtl.tasks import Task  # pylint: disable=import-outside-toplevel
  from tfmtl.engine import make_train_step  # pylint: disable=import-outside-toplevel

  def mse(y, p):
    return tf.reduce_mean(tf.square(y - p), axis=-1)

  model = HardSharingMLP(["a", "b"], trunk_units=(4,), tower_units=(2,),
                         dropout=0.0, seed=1)
  model(tf.zeros([1, 3]))
  method = MGDA(normalization="loss+")
  step = make_train_step(model, [Task("a", mse), Task("b", mse)], method,
                         keras.optimizers.SGD(0.05))
  x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
  batch = (tf.constant(x), {"a": tf.constant(x[:, :1] * 3.0),
                            "b": tf.constant(np.sin(x[:, 1:2]))})
  logs = step(batch)
  w = method.alpha.numpy()
  assert np.all(np.isfinite(w)) and np.all(w >= 0) and w.sum() > 0
  assert int(logs["nonfinite_skips"]) == 0
