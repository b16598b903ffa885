"""Data sources: each yields (inputs, {task: label}) through tf.data."""

from tfmtl.data import toy
from tfmtl.registry import Registry

SOURCES = Registry("data source", {
    "correlated_regression": toy.correlated_regression,
    "gradnorm_toy": toy.gradnorm_toy,
})


def get(name, **kwargs):
  """Builds the data source `name`; unknown names list the known ones."""
  return SOURCES.get(name, **kwargs)
