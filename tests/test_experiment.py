"""experiment: method keyword arguments from the config and the data."""

import pytest

from configs import toy_two_task
from tfmtl import data, experiment
from tfmtl.errors import UserError


def _config(method, **dwa):
  c = toy_two_task.get_config("runlocal")
  c.method = method
  c.method_kwargs.dwa = dwa
  return c


def test_dwa_epoch_length_comes_from_the_training_split():
  source = data.get("correlated_regression", n=1000)
  kwargs = experiment.method_kwargs(_config("dwa", temp=2.0), source)
  # 800 training examples (80%) in batches of 100.
  assert kwargs == {"temp": 2.0, "steps_per_epoch": 8}


def test_an_explicit_epoch_length_wins():
  source = data.get("correlated_regression", n=1000)
  kwargs = experiment.method_kwargs(_config("dwa", steps_per_epoch=3), source)
  assert kwargs == {"steps_per_epoch": 3}


def test_other_methods_get_only_their_own_settings():
  c = _config("gradnorm", steps_per_epoch=3)
  source = data.get("correlated_regression", n=1000)
  assert experiment.method_kwargs(c, source) == {"alpha": 0.16, "lr": 1e-3}


def test_without_a_source_dwa_asks_for_its_epoch_length():
  from tfmtl import methods  # pylint: disable=g-import-not-at-top
  with pytest.raises(UserError, match="method_kwargs.dwa.steps_per_epoch"):
    methods.get("dwa", **experiment.method_kwargs(_config("dwa")))
