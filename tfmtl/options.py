"""A method's options, checked by one mechanism when it is built.

An option's name, type and default are its constructor's signature; what
values it allows is declared beside it, in the class's `limits`:

    class CAGrad(GramianWeighted):
      limits = {"c": at_least(0.0), "rescale": one_of(0, 1, 2),
                "iters": at_least(1)}

      def __init__(self, c: float = 0.4, rescale: int = 0, ...):

Every class deriving from `Configurable` (the weighting and aggregation
bases) has its arguments checked before its `__init__` runs: the type from
the annotation (int, float, bool, str, Optional[...], Sequence[...], Union
of those; an int is a float, a bool is neither, a float must be finite), the
limit for numbers and strings (and for each element of a sequence). A wrong
value is one line naming the method, the option, what it got and what it
takes; an unknown option names the known ones and the nearest. The checked
values are kept in `options` ({name: value}, defaults included), which
`tfmtl.methods.describe` and saved training state read.
"""

import dataclasses
import difflib
import functools
import inspect
import math
import numbers
import typing
from typing import Any, Dict, List, Optional, Sequence

from tfmtl.errors import UserError


@dataclasses.dataclass(frozen=True)
class Range:
  """low ≤ x ≤ high (either end open or absent)."""
  low: Optional[float] = None
  high: Optional[float] = None
  low_open: bool = False
  high_open: bool = False

  def allows(self, x) -> bool:
    if self.low is not None and (x <= self.low if self.low_open
                                 else x < self.low):
      return False
    if self.high is not None and (x >= self.high if self.high_open
                                  else x > self.high):
      return False
    return True

  def __str__(self):
    if self.low is not None and self.high is not None:
      return (f"in {'(' if self.low_open else '['}{self.low:g}, "
              f"{self.high:g}{')' if self.high_open else ']'}")
    if self.low is not None:
      return f"{'>' if self.low_open else '>='} {self.low:g}"
    if self.high is not None:
      return f"{'<' if self.high_open else '<='} {self.high:g}"
    return "any"


@dataclasses.dataclass(frozen=True)
class OneOf:
  """One of a fixed set of values."""
  values: tuple

  def allows(self, x) -> bool:
    return x in self.values

  def __str__(self):
    return "one of " + ", ".join(repr(v) for v in self.values)


def at_least(low) -> Range:
  return Range(low=low)


def above(low) -> Range:
  return Range(low=low, low_open=True)


def between(low, high, low_open=False, high_open=False) -> Range:
  return Range(low, high, low_open, high_open)


def one_of(*values) -> OneOf:
  return OneOf(tuple(values))


@dataclasses.dataclass
class Option:
  """One option of a method: name, type, default, allowed values, doc."""
  name: str
  type: Any
  default: Any
  limit: Any = None
  doc: str = ""

  @property
  def type_name(self) -> str:
    return _type_name(self.type)

  @property
  def allowed(self) -> str:
    return str(self.limit) if self.limit is not None else ""


def _type_name(t) -> str:
  if t is inspect.Parameter.empty or t is None:
    return "any"
  origin = typing.get_origin(t)
  args = [a for a in typing.get_args(t) if a is not type(None)]
  if origin is typing.Union:
    inner = " or ".join(_type_name(a) for a in args)
    return (f"{inner} or None" if type(None) in typing.get_args(t)
            else inner)
  if origin in (list, tuple, Sequence, typing.Sequence) or (
      origin is not None and getattr(origin, "__name__", "") == "Sequence"):
    return f"sequence of {_type_name(args[0])}" if args else "sequence"
  return getattr(t, "__name__", str(t))


def _arg_docs(cls) -> Dict[str, str]:
  """{name: text} of the "Args:" section of a Google-style docstring
  ("a, b: ..." documents both)."""
  doc = inspect.getdoc(cls) or ""
  if "Args:" not in doc:
    return {}
  out, current = {}, None
  for line in doc.split("Args:", 1)[1].splitlines():
    if not line.strip():
      if out:
        break
      continue
    if line.startswith("  ") and not line.startswith("    ") and \
        ":" in line:
      names, text = line.strip().split(":", 1)
      current = [n.strip() for n in names.split(",")]
      for n in current:
        out[n] = text.strip()
    elif line.startswith("    ") and current:
      for n in current:
        out[n] += " " + line.strip()
    elif not line.startswith(" "):
      break
  return out


def shared_of(cls) -> Dict[str, Option]:
  """{name: Option} a class takes besides its constructor's own
  (`shared_options` along its bases; a subclass may drop one by mapping
  its name to None)."""
  out = {}
  for klass in reversed(cls.__mro__):
    out.update(klass.__dict__.get("shared_options", {}) or {})
  return {k: v for k, v in out.items() if v is not None}


def options_of(cls) -> List[Option]:
  """The options of a method class, from its constructor and `limits`
  (the shared ones last)."""
  init = getattr(cls.__init__, "__wrapped__", cls.__init__)
  try:
    sig = inspect.signature(init)
    hints = typing.get_type_hints(init)
  except (TypeError, ValueError, NameError):
    return []
  limits = getattr(cls, "limits", {}) or {}
  docs = _arg_docs(cls)
  out = []
  for name, p in sig.parameters.items():
    if name in ("self", "name") or p.kind in (p.VAR_KEYWORD,
                                              p.VAR_POSITIONAL):
      continue
    out.append(Option(name, hints.get(name, p.annotation),
                      None if p.default is p.empty else p.default,
                      limits.get(name), docs.get(name, "")))
  return out + list(shared_of(cls).values())


class _Bad(Exception):
  """What a value should have been; `matched`: its type was right and only
  the limit failed (the message to give, over a union's other branches)."""

  def __init__(self, expected, matched=False):
    super().__init__(expected)
    self.matched = matched


def _check_value(value, t, limit):
  """`value` coerced to type `t` (an int option given 2.0 gets 2), or _Bad
  with what was expected."""
  if t is inspect.Parameter.empty or t is Any:
    return value
  origin = typing.get_origin(t)
  args = typing.get_args(t)
  if origin is typing.Union:
    if value is None and type(None) in args:
      return None
    for a in args:
      if a is type(None):
        continue
      try:
        return _check_value(value, a, limit)
      except _Bad as e:
        if e.matched:
          tail = " or None" if type(None) in args else ""
          raise _Bad(f"{e}{tail}", matched=True) from None
    raise _Bad(_type_name(t) + (f" ({limit})" if limit is not None else ""))
  if origin is not None and getattr(origin, "__name__", "") in (
      "Sequence", "list", "tuple"):
    if isinstance(value, (str, bytes)) or not isinstance(
        value, (list, tuple)):
      raise _Bad(_type_name(t))
    try:
      return [_check_value(v, args[0] if args else Any, limit)
              for v in value]
    except _Bad as e:
      raise _Bad(f"a sequence of {e}", matched=True) from None
  if t is bool:
    if not isinstance(value, bool):
      raise _Bad("bool (True or False)")
    return value
  if t is int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or (
        not float(value).is_integer()):
      raise _Bad("int")
    value = int(value)
  elif t is float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or (
        not math.isfinite(value)):
      raise _Bad("finite float")
    value = float(value)
  elif t is str:
    if not isinstance(value, str):
      raise _Bad("str")
  if limit is not None and not limit.allows(value):
    raise _Bad(f"{_type_name(t)} {limit}", matched=True)
  return value


def check(cls, method: str, args, kwargs):
  """({option: value}, the bound arguments) of a call `cls(*args,
  **kwargs)`, checked; raises a UserError naming the option."""
  init = getattr(cls.__init__, "__wrapped__", cls.__init__)
  sig = inspect.signature(init)
  takes_any = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
  known = {o.name: o for o in options_of(cls)}
  shared = shared_of(cls)
  given_shared = {k: kwargs.pop(k) for k in list(kwargs) if k in shared}
  unknown = [k for k in kwargs if k not in sig.parameters]
  if unknown and not takes_any:
    near = difflib.get_close_matches(unknown[0], list(known), n=1)
    raise UserError(
        f"{method} has no option {unknown[0]!r}"
        + (f" (did you mean {near[0]!r}?)" if near else "")
        + f"; its options: {', '.join(known) or 'none'}")
  try:
    bound = sig.bind(None, *args, **kwargs)
  except TypeError as e:
    raise UserError(f"{method}: {e}") from None
  values = {}
  for name, option in known.items():
    arguments = given_shared if name in shared else bound.arguments
    given = name in arguments
    value = arguments[name] if given else option.default
    if given:
      try:
        value = _check_value(value, option.type, option.limit)
      except _Bad as e:
        raise UserError(f"{method}: {name} = {value!r} must be {e} "
                        f"(default {option.default!r})") from None
      if name not in shared:
        bound.arguments[name] = value
    values[name] = value
  return values, bound


def label(cls, kwargs) -> str:
  """A method's name for messages: its `name` argument or default."""
  init = getattr(cls.__init__, "__wrapped__", cls.__init__)
  param = inspect.signature(init).parameters.get("name")
  default = param.default if param is not None else None
  return str(kwargs.get("name") or default or cls.__name__.lower())


class Configurable:
  """Checks a subclass's constructor arguments (see module docstring) and
  keeps them in `self.options`. A class with `resolve_needs(options)` gets
  `needs` set from it before `__init__` runs, and its declared contract
  sealed after (tfmtl/method_base.py)."""

  limits: Dict[str, Any] = {}
  shared_options: Dict[str, Option] = {}

  def __init_subclass__(cls, **kwargs):
    super().__init_subclass__(**kwargs)
    init = cls.__dict__.get("__init__")
    if init is None:
      return

    @functools.wraps(init)
    def checked(self, *args, **kw):
      outermost = type(self).__init__ is checked  # the class being built
      if outermost:
        values, bound = check(cls, label(cls, kw), args, kw)
        # Not tracked: options are settings, not state to checkpoint.
        object.__setattr__(self, "options", values)
        if hasattr(self, "resolve_needs"):
          object.__setattr__(self, "needs", self.resolve_needs(values))
        args = bound.args[1:]
        kw = bound.kwargs
      init(self, *args, **kw)
      if outermost:
        object.__setattr__(self, "_contract_sealed", True)
    cls.__init__ = checked
