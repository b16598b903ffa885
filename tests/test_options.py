"""tfmtl.options: every option of every method is checked by one mechanism."""

import re
import typing

import pytest

from tfmtl import methods, options
from tfmtl.errors import UserError

# A value of the wrong type for each annotation, and what the message says.
WRONG = {bool: (1, "bool"), int: ("3", "int"), float: ("x", "finite float"),
         str: (3, "str")}


def _all_options():
  for name in methods.names():
    cls = methods.factory(name)
    if not isinstance(cls, type):
      continue
    for o in options.options_of(cls):
      yield name, o


@pytest.mark.parametrize("name, option", list(_all_options()),
                         ids=lambda v: getattr(v, "name", v))
def test_every_option_refuses_a_wrong_type_and_an_out_of_range_value(
    name, option):
  base = typing.get_origin(option.type) is typing.Union and [
      a for a in typing.get_args(option.type) if a is not type(None)][0] or (
          option.type)
  if base in WRONG:
    value, said = WRONG[base]
    if base is not option.type:  # a union names all of its types
      said = re.escape(option.type_name)
    with pytest.raises(UserError, match=rf"{name}: {option.name} = "
                       rf"{value!r} must be .*{said}.*\(default "):
      methods.get(name, **{option.name: value})
  limit = option.limit
  if isinstance(limit, options.Range):
    bad = (limit.low - 1 if limit.low is not None else limit.high + 1)
    if base is int:
      bad = int(bad)
    if typing.get_origin(option.type) is not None and base not in WRONG:
      bad = [bad]  # a sequence option: each element is checked
    with pytest.raises(UserError, match=rf"{name}: {option.name} = .* must "
                       rf"be .*{re.escape(str(limit))}"):
      methods.get(name, **{option.name: bad})
    for edge in (limit.low, limit.high):
      if edge is None:
        continue
      open_ = limit.low_open if edge == limit.low else limit.high_open
      if open_:
        with pytest.raises(UserError, match=option.name):
          methods.get(name, **{option.name: _typed(edge, base, option)})
  elif isinstance(limit, options.OneOf):
    with pytest.raises(UserError, match=rf"{option.name} = .* must be .*one "
                       "of"):
      methods.get(name, **{option.name: "no-such" if base is str else 99})


def _typed(value, base, option):
  value = int(value) if base is int else float(value)
  return [value] if typing.get_origin(option.type) not in (None,
                                                           typing.Union) \
      else value


def test_unknown_option_names_the_nearest():
  with pytest.raises(UserError, match=r"cagrad has no option 'cc' \(did you "
                     r"mean 'c'\?\); its options: c, rescale, norm_eps, iters"):
    methods.get("cagrad", cc=0.5)


def test_graddrop_leak_must_be_a_sequence_in_range():
  with pytest.raises(UserError, match=r"graddrop: leak = 2.0 must be "
                     "sequence of float or None"):
    methods.get("graddrop", leak=2.0)
  with pytest.raises(UserError, match=r"leak = \[0.1, 2.0\] must be a "
                     r"sequence of float in \[0, 1\] or None"):
    methods.get("graddrop", leak=[0.1, 2.0])


def test_valid_values_are_kept_and_coerced():
  m = methods.get("cagrad", c=1, iters=3.0)
  assert m.options == {"c": 1.0, "rescale": 0, "norm_eps": 1e-6, "iters": 3,
                       "rep_grad": False}
  assert isinstance(m.options["iters"], int) and m.iters == 3
  assert methods.get("gradnorm", alpha=0).options["alpha"] == 0.0
  with pytest.raises(UserError, match="gradnorm: alpha = -1 must be"):
    methods.get("gradnorm", alpha=-1)


def test_range_and_one_of_text():
  assert str(options.at_least(0)) == ">= 0"
  assert str(options.between(0, 1, high_open=True)) == "in [0, 1)"
  assert str(options.above(0.0)) == "> 0"
  assert str(options.one_of("a", "b")) == "one of 'a', 'b'"


# Numbers any value of which is valid.
UNBOUNDED = {("pcgrad", "seed"), ("graddrop", "seed"), ("gradvac", "seed"),
             ("rlw", "seed"), ("uncertainty", "init"), ("prf", "main_task")}


def test_every_numeric_option_declares_its_range():
  missing = []
  for name, o in _all_options():
    base = [a for a in typing.get_args(o.type) if a is not type(None)] or [
        o.type]
    numeric = any(b in (int, float) for b in base) or typing.get_origin(
        o.type) is not None and any(
            typing.get_args(b) and typing.get_args(b)[0] in (int, float)
            for b in base)
    if numeric and o.limit is None and (name, o.name) not in UNBOUNDED:
      missing.append(f"{name}.{o.name}")
  assert not missing, f"options without limits: {missing}"
