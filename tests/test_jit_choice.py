"""jit_compile="auto" (engine/jit_choice.py): the choice rule on a fake
clock, then the real step, loop, checkpoint and Trainer.fit with it."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfmtl
from tests.helpers import mse, tiny_model
from tfmtl import methods
from tfmtl.engine import jit_choice, make_train_step
from tfmtl.engine.jit_choice import PLAIN, UNDECIDED, XLA, Chooser
from tfmtl.errors import UserError
from tfmtl.tasks import Task


class _Clock:
  """time.perf_counter for the chooser: each call of a form advances it by
  that form's step time."""

  def __init__(self, monkeypatch):
    self.now = 0.0
    monkeypatch.setattr(jit_choice.time, "perf_counter", lambda: self.now)

  def form(self, name, seconds, calls):
    def run(x):
      calls.append(name)
      self.now += seconds
      return tf.constant(x)
    return run


def _chooser(monkeypatch, plain_s, xla_s, choice=UNDECIDED, xla=True):
  clock, calls, said = _Clock(monkeypatch), [], []
  chooser = Chooser(clock.form("plain", plain_s, calls),
                    clock.form("xla", xla_s, calls) if xla else None,
                    tf.Variable(choice, dtype=tf.int64), say=said.append,
                    why="" if xla else "no XLA here")
  # As its owners do: call the chooser until it names the form to call.
  chooser.step = chooser
  chooser.on_choice = lambda form, _: setattr(
      chooser, "step", chooser.xla if form == XLA else chooser.plain)
  return chooser, calls, said


def _run(chooser, n):
  for i in range(n):
    chooser.step(float(i))


def test_a_fast_step_never_compiles(monkeypatch):
  chooser, calls, said = _chooser(monkeypatch, 0.01, 0.001)
  _run(chooser, 5)
  assert calls == ["plain"] * 5
  assert int(chooser.choice.numpy()) == PLAIN
  assert said == ["jit_compile='auto': no XLA (the step takes 10.0 ms, "
                  "below the 50 ms where XLA could pay)"]


@pytest.mark.parametrize("plain_s, xla_s, chosen", [(0.3, 0.2, XLA),
                                                    (0.2, 0.3, PLAIN)])
def test_the_faster_form_is_kept(monkeypatch, plain_s, xla_s, chosen):
  chooser, calls, said = _chooser(monkeypatch, plain_s, xla_s)
  _run(chooser, 12)
  # trace + one timed plain step, the XLA compile, then alternating rounds
  assert calls[:9] == ["plain", "plain", "xla", "plain", "xla", "plain",
                       "xla", "plain", "xla"]
  assert int(chooser.choice.numpy()) == chosen
  name = "plain" if chosen == PLAIN else "xla"
  assert calls[9:] == [name] * 3
  assert said == [f"jit_compile='auto': {'XLA' if chosen == XLA else 'no XLA'}"
                  f" ({xla_s * 1e3:.1f} ms a step with XLA against "
                  f"{plain_s * 1e3:.1f} ms without (medians of 3))"]


def test_a_restored_choice_is_used_without_timing(monkeypatch):
  chooser, calls, said = _chooser(monkeypatch, 0.3, 0.2, choice=PLAIN)
  _run(chooser, 3)
  assert calls == ["plain"] * 3
  assert said == ["jit_compile='auto': no XLA (restored from the "
                  "checkpoint)"]


def test_no_xla_or_op_determinism_means_plain(monkeypatch):
  chooser, calls, said = _chooser(monkeypatch, 0.3, 0.2, xla=False)
  _run(chooser, 3)
  assert calls == ["plain"] * 3 and said[0].endswith("(no XLA here)")
  monkeypatch.setattr(jit_choice.tf_config, "is_op_determinism_enabled",
                      lambda: True)
  chooser, calls, said = _chooser(monkeypatch, 0.3, 0.2)
  _run(chooser, 3)
  assert calls == ["plain"] * 3 and "op determinism" in said[0]


def test_bad_settings_are_refused():
  with pytest.raises(ValueError, match="True, False or 'auto', not 'yes'"):
    jit_choice.resolve("yes")
  trainer = tfmtl.Trainer(tiny_model(), {"a": mse, "b": mse}, "fixed")
  with pytest.raises(UserError, match="not 'maybe'"):
    trainer.compile(jit_compile="maybe")


def _batches(n, seed=0):
  rng = np.random.default_rng(seed)
  for _ in range(n):
    x = rng.normal(size=(8, 3)).astype(np.float32)
    yield x, {"a": x[:, :1] * 2, "b": np.sin(x[:, 1:2])}


def _step(jit, choice=None):
  model = tiny_model()
  model(tf.zeros([1, 3]))
  step = make_train_step(model, [Task("a", mse), Task("b", mse)],
                         methods.get("pcgrad"), keras.optimizers.SGD(0.1),
                         jit_compile=jit)
  if choice is not None:
    step.counters.xla.assign(choice)
  return model, step


def test_the_step_under_auto_trains_as_its_forms_do(monkeypatch):
  """Real steps: with the threshold at 0 the XLA form is compiled and timed;
  whatever the clock chose, the weights follow the uncompiled step to
  float32 rounding (the two forms compute the same update), the loop runs
  exactly the steps asked for, and a restored choice is not timed again."""
  monkeypatch.setattr(jit_choice, "MIN_STEP_S", 0.0)
  auto_model, auto = _step("auto")
  plain_model, plain = _step(False)
  batches = list(_batches(12))
  for b in batches[:3]:
    auto(b)
    plain(b)
  ds = iter(tf.data.Dataset.from_tensor_slices(
      tuple(np.stack(c) for c in zip(*[(x, y["a"], y["b"]) for x, y in
                                       batches[3:]]))).map(
          lambda x, a, b: (x, {"a": a, "b": b})))
  auto.loop(ds, 9)  # 5 more single steps decide it, then a loop of 4
  for b in batches[3:]:
    plain(b)
  assert auto.chooser.decided and int(auto.counters.steps.numpy()) == 12
  assert auto._step in (auto.chooser.plain, auto.chooser.xla)  # pylint: disable=protected-access
  for a, p in zip(auto_model.weights, plain_model.weights):
    # 12 SGD steps of a 4-unit net, float32: XLA's reordering of sums
    # moves them by ~1e-7 (1e-4 is 1000x that); a wrong update by 1e-2.
    np.testing.assert_allclose(a.numpy(), p.numpy(), rtol=1e-4, atol=1e-4)
  _, restored = _step("auto", choice=int(auto.counters.xla.numpy()))
  restored(batches[0])
  assert restored.chooser.times == {PLAIN: [], XLA: []}
  assert "restored from the checkpoint" in restored.chooser.message


def test_trainer_fit_with_auto_says_which_and_keeps_it(monkeypatch, capsys):
  monkeypatch.setattr(jit_choice, "MIN_STEP_S", 0.0)
  trainer = tfmtl.Trainer(tiny_model(), {"a": mse, "b": mse}, "pcgrad")
  trainer.compile(optimizer=keras.optimizers.SGD(0.1))
  x = np.random.default_rng(0).normal(size=(96, 3)).astype(np.float32)
  trainer.fit(x, {"a": x[:, :1] * 2, "b": np.sin(x[:, 1:2])}, batch_size=8,
              epochs=1, verbose=0)
  said = capsys.readouterr().out
  assert "jit_compile='auto': " in said and "medians of 3" in said
  assert not isinstance(trainer.train_function, Chooser)
  assert int(trainer._engine.counters.xla.numpy()) in (PLAIN, XLA)  # pylint: disable=protected-access


def test_an_xla_compile_failure_keeps_the_plain_form(monkeypatch):
  chooser, calls, said = _chooser(monkeypatch, 0.3, 0.2)

  def broken(x):
    calls.append("xla")
    raise tf.errors.InvalidArgumentError(None, None, "op Foo has no XLA "
                                         "kernel\nmore text")
  chooser.xla = broken
  _run(chooser, 5)
  assert calls == ["plain", "plain", "xla", "plain", "plain", "plain"]
  assert int(chooser.choice.numpy()) == PLAIN
  assert said == ["jit_compile='auto': no XLA (XLA failed to compile the "
                  "step: op Foo has no XLA kernel)"]
