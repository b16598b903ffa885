"""One name space over both method families, for configs (`config.method`)."""

from tfmtl import aggregation, registry, weighting
from tfmtl.errors import UserError


def names():
  return sorted(weighting.WEIGHTINGS.names() + aggregation.AGGREGATORS.names())


def factory(name):
  """The class (factory) of method `name`, unbuilt (`module:Class` too)."""
  if ":" in name:
    return registry.import_object(name, "method")
  for family in (weighting.WEIGHTINGS, aggregation.AGGREGATORS):
    if name in family:
      return family.factory(name)
  raise UserError(f"unknown method {name!r}; known: {', '.join(names())}")


def get(name, **kwargs):
  """A weighting or aggregation method by name, built with `kwargs`."""
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
