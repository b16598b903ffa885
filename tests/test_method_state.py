"""Every method's state survives a checkpoint: resume == straight.

For every registered method (and two compositions): train 2 steps,
checkpoint the method and the weights, train 2 more; then restore into a
freshly built model + method + optimizer and train the same 2 steps. The
weights and every method variable must match bit for bit — a state variable
left out of the checkpoint (or rebuilt differently) shows here.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import methods
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step

from tests.helpers import mse, tiny_model

KWARGS = {"dwa": dict(steps_per_epoch=1), "rlw": dict(seed=3),
          "graddrop": dict(seed=3),
          "stch": dict(steps_per_epoch=1, warmup_epochs=1),
          "dwa+mgda": dict(weighting_kwargs=dict(steps_per_epoch=1))}
AUX = {"atg", "prf", "cosine", "cosine_weighted", "aux_project",
       "metabalance"}
THREE = {"krum", "trimmed_mean"}


def _kpi(y, p):
  return tf.reduce_mean(tf.exp(-tf.abs(y - p)))


def _build(name):
  names = "abc" if name in THREE else "ab"
  model = tiny_model(names)
  tasks = [Task(t, mse, kpi=_kpi, weight=1.0 - 0.2 * i,
                role="aux" if (name in AUX and t == "b") else "main")
           for i, t in enumerate(names)]
  method = methods.get(name, **KWARGS.get(name, {}))
  opt = keras.optimizers.Adam(0.05)
  step = make_train_step(model, tasks, method, opt, function=False)
  return model, method, opt, step


def _batches(name, k):
  rng = np.random.default_rng(1)
  out = []
  for _ in range(4 * k):
    x = rng.normal(size=(6, 3)).astype(np.float32)
    out.append((x, {t: (i + 1.0) * np.tanh(x[:, i:i + 1])
                    for i, t in enumerate("abc")}))
  return out


def _snapshot(model, method):
  return ([np.asarray(v) for v in model.trainable_variables],
          [np.asarray(v) for v in method.variables])


@pytest.mark.parametrize("name", methods.names() + ["uncertainty+pcgrad",
                                                    "dwa+mgda"])
def test_resume_equals_straight(name, tmp_path):
  model, method, opt, step = _build(name)
  k = step.batches_per_step
  batches = iter(_batches(name, k))
  for _ in range(2):
    step(step.draw(batches))
  path = tf.train.Checkpoint(model=model, method=method, optimizer=opt,
                             counters=step.counters).save(str(tmp_path / "c"))
  rest = list(batches)
  for b in range(2):
    step(tuple(rest[b * k:(b + 1) * k]) if k > 1 else rest[b])
  straight = _snapshot(model, method)

  model2, method2, opt2, step2 = _build(name)
  tf.train.Checkpoint(model=model2, method=method2, optimizer=opt2,
                      counters=step2.counters).restore(path).assert_consumed()
  for b in range(2):
    step2(tuple(rest[b * k:(b + 1) * k]) if k > 1 else rest[b])
  resumed = _snapshot(model2, method2)
  for a, b in zip(straight[0], resumed[0]):
    np.testing.assert_array_equal(a, b, err_msg=f"{name}: weights")
  assert len(straight[1]) == len(resumed[1])
  for a, b in zip(straight[1], resumed[1]):
    np.testing.assert_array_equal(a, b, err_msg=f"{name}: method state")
