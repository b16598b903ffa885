"""Gradient-level balancing methods (see base.py for the contract)."""

from tfmtl.aggregation.base import Aggregator
from tfmtl.aggregation.sum import Mean, Sum
from tfmtl.registry import Registry

AGGREGATORS = Registry("aggregation method", {
    "sum": Sum,
    "mean": Mean,
})


def get(name, **kwargs) -> Aggregator:
  """Builds the aggregator `name`; unknown names list the known ones."""
  return AGGREGATORS.get(name, **kwargs)
