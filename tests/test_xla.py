"""Every registered method's whole train step compiles with XLA on CPU.

The cheapest proof that a method can run on a TPU: `jit_compile=True`
lowers the whole step (method, per-sample statistics, clipping, optimizer,
non-finite guard) to XLA HLO with static shapes; an op XLA can't compile, or
a shape it can't make static, fails right there. (Lowering every method is
what costs; code generation and a run are checked on two methods below.) Parametrised over
`tfmtl.methods.names()` at collection time, so methods added later are
checked too. A method that can't be compiled must say so (`xla_ok = False`,
`xla_reason`) and is then refused under jit_compile / TPU with that reason.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import methods
from tfmtl.errors import UserError
from tfmtl.models.hard_sharing import HardSharingMLP
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step, xla_problem

from tests.helpers import task_names_for

KWARGS = {"dwa": dict(steps_per_epoch=1), "rlw": dict(seed=3),
          "graddrop": dict(seed=3),
          "stch": dict(steps_per_epoch=1, warmup_epochs=0)}
# methods that need an auxiliary task
AUX = {"atg", "prf", "cosine", "cosine_weighted", "aux_project",
       "metabalance"}


def _mse(y, p):
  return tf.reduce_mean(tf.square(y - p), axis=-1)


def _kpi(y, p):
  return tf.reduce_mean(tf.exp(-tf.abs(y - p)))


def _setup(name, jit_compile=True, method_kwargs=None, **step_kwargs):
  names = task_names_for(name, KWARGS.get(name))  # min_tasks, at least 2
  model = HardSharingMLP(names, trunk_units=(4,), tower_units=(2,),
                         dropout=0.0, seed=1)
  model(tf.zeros([1, 3]))
  tasks = [Task("a", _mse, kpi=_kpi),
           Task("b", _mse, weight=0.5, kpi=_kpi,
                role="aux" if name in AUX else "main"),
           Task("c", _mse, kpi=_kpi)][:len(names)]
  method = methods.get(name, **(method_kwargs or KWARGS.get(name, {})))
  step = make_train_step(model, tasks, method, keras.optimizers.SGD(0.05),
                         jit_compile=jit_compile, clip_global_norm=1.0,
                         **step_kwargs)
  return model, method, step


def _batch():
  x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
  return tf.constant(x), {"a": tf.constant(x[:, :1]),
                          "b": tf.constant(np.sin(x[:, 1:2])),
                          "c": tf.constant(x[:, 2:3] * x[:, :1])}


@pytest.mark.parametrize("name", methods.names())
def test_step_compiles_with_xla(name):
  method = methods.get(name, **KWARGS.get(name, {}))
  if xla_problem(method):
    with pytest.raises(UserError, match="can't be compiled with XLA"):
      _setup(name)
    return
  _, _, step = _setup(name)
  batch = _batch()
  if step.batches_per_step > 1:
    batch = (batch,) * step.batches_per_step
  hlo = step._step.experimental_get_compiler_ir(batch)(stage="hlo")
  assert "ENTRY" in hlo, name


def test_compiled_step_matches_the_uncompiled_one():
  batch = _batch()
  m1, _, s1 = _setup("pcgrad", jit_compile=True)
  m2, _, s2 = _setup("pcgrad", jit_compile=False)
  logs = s1(batch)
  s2(batch)
  for key, value in logs.items():
    assert np.all(np.isfinite(np.asarray(value))), key
  assert int(logs["nonfinite_skips"]) == 0
  for a, b in zip(m1.trainable_variables, m2.trainable_variables):
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_prf_every_k_compiles_and_matches_the_uncompiled_step():
  """With every=k the variance pass sits in a tf.cond: compiled and run."""
  batch = _batch()
  m1, _, s1 = _setup("prf", jit_compile=True, method_kwargs={"every": 2})
  m2, _, s2 = _setup("prf", jit_compile=False, method_kwargs={"every": 2})
  for _ in range(3):
    s1(batch)
    s2(batch)
  for a, b in zip(m1.trainable_variables, m2.trainable_variables):
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


def test_steps_per_loop_does_not_retrace():
  _, _, step = _setup("uncertainty", jit_compile=True)
  ds = tf.data.Dataset.from_tensors(_batch()).repeat()
  iterator = iter(ds)
  for n in (3, 2, 5):
    step.loop(iterator, n)
  assert step._loop.experimental_get_tracing_count() == 1
  assert step._step.experimental_get_tracing_count() == 1
  assert int(step.counters.steps.numpy()) == 10


def test_a_user_model_at_the_representation_level_compiles():
  """A plain functional model's inferred cut (trunk, then heads) lowers to
  XLA with a representation-level method."""
  from tests.helpers import tiny_model  # pylint: disable=g-import-not-at-top
  step = make_train_step(tiny_model(), [Task("a", _mse), Task("b", _mse)],
                         methods.get("upgrad", rep_grad=True),
                         keras.optimizers.SGD(0.05), jit_compile=True)
  x = tf.constant(np.random.default_rng(0).normal(size=(4, 3)), tf.float32)
  batch = (x, {"a": x[:, :1], "b": x[:, 1:2]})
  hlo = step._step.experimental_get_compiler_ir(batch)(stage="hlo")
  assert "ENTRY" in hlo
