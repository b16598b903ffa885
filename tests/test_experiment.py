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


def test_a_method_kwargs_section_for_no_method_is_refused():
  c = _config("cagrad")
  with c.unlocked():
    c.method_kwargs.cagard = {"c": 0.9}
  with pytest.raises(UserError, match=r"config.method_kwargs.cagard: there is "
                     r"no method 'cagard' \(did you mean 'cagrad'\?\)"):
    experiment.preflight(c)


def test_epochs_set_the_steps_from_the_train_split(capsys):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  c = _config("fixed")
  with c.unlocked():
    c.epochs = 3
  exp = experiment.build(c, tf.distribute.get_strategy(), with_step=False)
  # correlated_regression: 800 train examples (80% of 1000), batches of 100.
  n = exp.source.num_examples("train")
  assert c.steps == 3 * (n // c.batch_size)
  assert f"epochs: 3 × {n // c.batch_size} steps" not in capsys.readouterr().out
  with c.unlocked():
    c.batch_size = n + 1
  with pytest.raises(UserError, match="fewer than one batch"):
    experiment.build(c, tf.distribute.get_strategy(), with_step=False)


def test_a_batched_data_function_is_unbatched_and_counted():
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfmtl.data.source import DatasetSource  # pylint: disable=g-import-not-at-top
  x = np.arange(10, dtype=np.float32)[:, None]
  ds = tf.data.Dataset.from_tensor_slices((x, {"a": x[:, 0]}))
  batched = DatasetSource({"train": ds.batch(4)})
  plain = DatasetSource({"train": ds})
  assert batched.num_examples("train") == plain.num_examples("train") == 10
  got = next(iter(batched.dataset("train", 3)))
  assert got[0].shape == (3, 1) and got[1]["a"].shape == (3,)
  # A filtered dataset does not know its size: counted once.
  assert DatasetSource({"train": ds.filter(
      lambda a, b: a[0] > 4)}).num_examples("train") == 5
