"""One name space over both method families, for configs (`config.method`).

`WEIGHTING+AGGREGATION` (e.g. `uncertainty+pcgrad`) names a composition
(tfmtl/aggregation/composed.py); `module:Class` names a user's method.
"""

import functools

from tfmtl import aggregation, registry, weighting
from tfmtl.aggregation.composed import Composed, split_name
from tfmtl.errors import UserError


def names():
  return sorted(weighting.WEIGHTINGS.names() + aggregation.AGGREGATORS.names())


def factory(name):
  """The class (factory) of method `name`, unbuilt (`module:Class` too)."""
  if ":" in name:
    return registry.import_object(name, "method")
  parts = split_name(name)
  if parts:
    w, a = weighting.WEIGHTINGS.factory(parts[0]), \
        aggregation.AGGREGATORS.factory(parts[1])
    made = functools.partial(get, name)
    made.xla_ok = getattr(w, "xla_ok", True) and getattr(a, "xla_ok", True)
    made.xla_reason = (getattr(w, "xla_reason", "") or
                       getattr(a, "xla_reason", ""))
    return made
  for family in (weighting.WEIGHTINGS, aggregation.AGGREGATORS):
    if name in family:
      return family.factory(name)
  raise UserError(f"unknown method {name!r}; known: {', '.join(names())}")


def get(name, **kwargs):
  """A weighting or aggregation method by name, built with `kwargs`.

  A composition takes `weighting_kwargs` and `aggregator_kwargs`.
  """
  parts = split_name(name) if ":" not in name else None
  if parts:
    unknown = set(kwargs) - {"weighting_kwargs", "aggregator_kwargs"}
    if unknown:
      raise UserError(f"method {name!r} takes weighting_kwargs and "
                      f"aggregator_kwargs, not {sorted(unknown)}")
    if parts[0] not in weighting.WEIGHTINGS:
      raise UserError(f"{parts[0]!r} in {name!r} is not a weighting method; "
                      f"known: {', '.join(weighting.WEIGHTINGS.names())}")
    if parts[1] not in aggregation.AGGREGATORS:
      raise UserError(f"{parts[1]!r} in {name!r} is not an aggregation "
                      "method; known: "
                      f"{', '.join(aggregation.AGGREGATORS.names())}")
    return Composed(
        weighting.get(parts[0], **dict(kwargs.get("weighting_kwargs") or {})),
        aggregation.get(parts[1],
                        **dict(kwargs.get("aggregator_kwargs") or {})),
        name=name.replace("+", "_"))
  if ":" in name:
    try:
      method = factory(name)(**kwargs)
    except TypeError as e:
      raise UserError(f"method {name!r}: {e}") from None
    if not isinstance(method, (weighting.Weighting,
                               aggregation.Aggregator)):
      raise UserError(f"method {name!r} is neither a tfmtl.weighting."
                      "Weighting nor a tfmtl.aggregation.Aggregator")
    return method
  if name in weighting.WEIGHTINGS:
    return weighting.get(name, **kwargs)
  if name in aggregation.AGGREGATORS:
    return aggregation.get(name, **kwargs)
  raise UserError(f"unknown method {name!r}; known: {', '.join(names())}")
