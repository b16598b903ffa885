"""tfmtl.method_base: one declared contract between the step and methods."""

import inspect
import os

import pytest
import tensorflow as tf

from tfmtl import aggregation, methods, weighting
from tfmtl.errors import UserError
from tfmtl.method_base import Need, StepInputs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_an_unknown_need_is_refused_when_the_class_is_defined():
  with pytest.raises(UserError, match=r"Typo: unknown need 'lossses'; it may "
                     r"need: loss_weights, losses, representation, step, "
                     "variance"):
    class Typo(aggregation.Aggregator):  # pylint: disable=unused-variable
      needs = frozenset({"lossses"})
  with pytest.raises(UserError, match="Wrong: unknown need 'variance'; it may "
                     "need: grad_norms, kpis, losses_after"):
    class Wrong(weighting.Weighting):  # pylint: disable=unused-variable
      needs = frozenset({"variance"})


def test_needs_come_from_the_class_and_its_options_once():
  assert methods.get("pcgrad").needs == frozenset()
  assert methods.get("pcgrad", randomised=True).needs == {Need.STEP}
  assert methods.get("mgda", normalization="loss+").needs == {Need.LOSSES}
  assert methods.get("upgrad", rep_grad=True).needs == {Need.REPRESENTATION}
  # needs_when of a base (rep_grad) and of the class (randomised) both count.
  assert methods.get("pcgrad", randomised=True, rep_grad=True).needs == {
      Need.STEP, Need.REPRESENTATION}
  composed = methods.get("uncertainty+mgda", aggregator_kwargs=dict(
      normalization="loss"))
  assert composed.needs == {Need.LOSSES, Need.LOSS_WEIGHTS}
  assert methods.get("prf").needs == {"variance"}  # a Need is its name too


def test_a_built_methods_contract_cannot_be_rewritten():
  method = methods.get("pcgrad")
  for name, value in (("needs", frozenset({Need.STEP})),
                      ("handles_absent", False), ("min_tasks", 5),
                      ("xla_ok", False)):
    with pytest.raises(AttributeError, match="declared method contract"):
      setattr(method, name, value)


def test_every_declared_attribute_has_a_default():
  for cls in (aggregation.Aggregator, weighting.Weighting):
    m = cls()
    assert m.needs == frozenset() and m.handles_absent is False
    assert m.min_tasks == 1 and m.batches_per_step == 1
    assert m.xla_ok is True and m.xla_reason == ""
    assert m.variance_tasks() is None and m.variance_due() is None
    assert m.setup() == "" and m.logs() == {}


def test_step_inputs_hold_what_was_set():
  inputs = StepInputs(losses=tf.ones([2]), present=tf.constant([True, False]))
  assert sorted(inputs.kwargs()) == ["losses", "present"]


def test_the_engine_reads_no_undeclared_attribute():
  for name in ("step.py", "gradients.py", "forward.py", "apply.py"):
    source = open(os.path.join(ROOT, "tfmtl", "engine", name)).read()
    assert "getattr(method" not in source and \
        "getattr(self.method" not in source, name
    assert '"variance" in' not in source and '"grad_norms" in' not in source
  assert "getattr(method" not in inspect.getsource(methods.get)
