"""One name space over both method families, for configs (`config.method`)."""

from tfmtl import aggregation, weighting
from tfmtl.errors import UserError


def names():
  return sorted(weighting.WEIGHTINGS.names() + aggregation.AGGREGATORS.names())


def factory(name):
  """The class (factory) of method `name`, unbuilt."""
  for registry in (weighting.WEIGHTINGS, aggregation.AGGREGATORS):
    if name in registry:
      return registry.factory(name)
  raise UserError(f"unknown method {name!r}; known: {', '.join(names())}")


def get(name, **kwargs):
  """A weighting or aggregation method by name, built with `kwargs`."""
  if name in weighting.WEIGHTINGS:
    return weighting.get(name, **kwargs)
  if name in aggregation.AGGREGATORS:
    return aggregation.get(name, **kwargs)
  raise UserError(f"unknown method {name!r}; known: {', '.join(names())}")
