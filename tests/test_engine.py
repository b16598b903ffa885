"""The engine's phases in order: the gradient that reaches the optimizer is
clip(method(J)) — the method first, then the global-norm clip, then the
per-variable clip by value (clipping J's rows before the method would give
another update)."""

import keras
import numpy as np
import tensorflow as tf

from tfmtl import methods
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step

from tests.helpers import mse, tiny_model


def test_optimizer_sees_clip_of_the_method_output():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(6, 3)).astype(np.float32)
  y = {"a": 3 * rng.normal(size=(6, 1)).astype(np.float32),
       "b": -2 * rng.normal(size=(6, 1)).astype(np.float32)}
  model = tiny_model()
  start = [np.asarray(v) for v in model.trainable_variables]
  norm, value = 0.3, 0.02
  step = make_train_step(
      model, [Task("a", mse), Task("b", mse, weight=0.5)],
      methods.get("pcgrad"), keras.optimizers.SGD(1.0),  # update = −grad
      clip_global_norm=norm, clip_by_value={"dense_.*/kernel": value},
      function=False)
  step((x, y))

  ref = tiny_model()
  shared, heads = ref.trainable_variables[:2], ref.trainable_variables[2:]
  with tf.GradientTape(persistent=True) as tape:
    out = ref(x)
    losses = [tf.reduce_mean(mse(y[t], out[t])) for t in "ab"]
  J = tf.stack([tf.concat([tf.reshape(g, [-1]) for g in
                           tape.gradient(l, shared)], 0) for l in losses])
  d = methods.get("pcgrad")(J).numpy()
  grads, offset = [], 0
  for v in start[:2]:
    grads.append(d[offset:offset + v.size].reshape(v.shape))
    offset += v.size
  for i, w in enumerate((1.0, 0.5)):
    grads += [w * np.asarray(g) for g in
              tape.gradient(losses[i], heads[2 * i:2 * i + 2])]
  total = np.sqrt(sum(np.sum(g ** 2) for g in grads))
  assert total > norm  # the clip acts
  grads = [g * norm / total for g in grads]
  paths = [v.path for v in model.trainable_variables]
  grads = [np.clip(g, -value, value) if ("kernel" in p and "dense_" in p)
           else g for g, p in zip(grads, paths)]
  assert any("dense_" in p and "kernel" in p for p in paths)
  for v, s, g in zip(model.trainable_variables, start, grads):
    np.testing.assert_allclose(s - np.asarray(v), g, atol=1e-6)


def test_counters_faults_overflow_probes_and_the_loss_scale():
  """engine.apply.count, step by step, with the float16 loss scale: a
  skip with a bad loss (or at scale 1) is a fault; an overflow while the
  scale can still shrink is a probe: skipped, scale halved, and the count
  of faults in a row neither grows nor resets at it."""
  from tfmtl.engine import apply  # pylint: disable=g-import-not-at-top
  c = apply.Counters(3)

  def step(finite, bad_loss=(0, 0, 0), bad_grad=(0, 0, 0), scaled=True):
    scale = tf.convert_to_tensor(c.loss_scale) if scaled else None
    logs = apply.count(c, ["a", "b", "c"], tf.constant(finite),
                       tf.constant(np.array(bad_loss, bool)),
                       tf.constant(np.array(bad_grad, bool)), scale)
    got = {k: float(v) for k, v in logs.items()}
    return got, [int(got[f"nonfinite/{t}"]) for t in "abc"]

  s = apply.INITIAL_LOSS_SCALE
  logs, codes = step(True)
  assert (logs["nonfinite_skips"], logs["consecutive_skips"]) == (0, 0)
  assert logs["loss_scale"] == s and int(c.good_steps.numpy()) == 1
  assert codes == [0, 0, 0]
  logs, codes = step(False, bad_loss=(0, 1, 0))  # a fault
  assert (logs["nonfinite_skips"], logs["consecutive_skips"]) == (1, 1)
  assert logs["loss_scale"] == s / 2 and int(c.good_steps.numpy()) == 0
  assert codes == [0, 1, 0]
  logs, codes = step(False, bad_grad=(0, 0, 1))  # an overflow: a probe
  assert (logs["nonfinite_skips"], logs["consecutive_skips"]) == (2, 1)
  assert logs["loss_scale"] == s / 4
  assert codes == [0, 0, 2]  # the last skip's tasks
  logs, codes = step(False, bad_loss=(1, 0, 0), bad_grad=(1, 0, 1))
  assert (logs["nonfinite_skips"], logs["consecutive_skips"]) == (3, 2)
  assert codes == [3, 0, 2]
  logs, codes = step(True)  # a good step resets the run of faults only
  assert (logs["nonfinite_skips"], logs["consecutive_skips"]) == (3, 0)
  assert codes == [3, 0, 2] and logs["loss_scale"] == s / 8
  assert int(c.steps.numpy()) == 5
  # At scale 1 the scale can't shrink: an overflow is a fault.
  c.loss_scale.assign(1.0)
  logs, _ = step(False, bad_grad=(1, 0, 0))
  assert logs["consecutive_skips"] == 1 and logs["loss_scale"] == 1.0
  c.loss_scale.assign(2.0)
  logs, _ = step(False, bad_grad=(1, 0, 0))  # 2 can still halve: a probe
  assert logs["consecutive_skips"] == 1 and logs["loss_scale"] == 1.0
  # Growth: ×2 on the LOSS_SCALE_PERIOD-th finite step in a row, not before.
  c.loss_scale.assign(4.0)
  c.good_steps.assign(apply.LOSS_SCALE_PERIOD - 2)
  logs, _ = step(True)
  assert logs["loss_scale"] == 4.0
  assert int(c.good_steps.numpy()) == apply.LOSS_SCALE_PERIOD - 1
  logs, _ = step(True)
  assert logs["loss_scale"] == 8.0 and int(c.good_steps.numpy()) == 0
  # Without loss scaling every skip is a fault.
  logs, _ = step(False, bad_grad=(0, 1, 0), scaled=False)
  assert logs["consecutive_skips"] == 1 and "loss_scale" not in logs
  logs, _ = step(False, bad_grad=(0, 1, 0), scaled=False)
  assert logs["consecutive_skips"] == 2
