"""configs/multi_mnist.py trains and evaluates on a tiny digits fixture."""

import pytest

import train as train_main
from configs import multi_mnist
from tfmtl import distribute, experiment
from tfmtl.errors import UserError
from tests.data.test_multi_mnist import write_digits_csv, write_fashion


def _shrink(c, steps=3):
  c.batch_size = 8
  c.eval_batch_size = 8
  c.steps = steps
  c.log_every = steps
  c.checkpoint_every = steps
  return c


def test_runlocal_trains_both_digits(tmp_path):
  write_digits_csv(tmp_path / "d.csv.gz", n=60)
  c = _shrink(multi_mnist.get_config("runlocal,pairs=1"))
  assert c.data.kwargs.pairs_per_digit == 1
  c.data.kwargs.path = str(tmp_path / "d.csv.gz")
  results = train_main.train(c, str(tmp_path / "wd"))
  assert set(results) == {"left", "right"}
  for task in ("left", "right"):
    assert 0.0 <= results[task]["accuracy"] <= 1.0


@pytest.mark.parametrize("arg", ["only=right", "fashion"])
def test_single_task_and_fashion_variants(tmp_path, arg):
  c = _shrink(multi_mnist.get_config(arg), steps=1)
  if arg == "fashion":
    write_fashion(tmp_path / "fm", n_train=40, n_test=16)
    c.data.kwargs.root = str(tmp_path / "fm")
  else:
    write_digits_csv(tmp_path / "d.csv.gz", n=60)
    c.data.kwargs.path = str(tmp_path / "d.csv.gz")
  results = train_main.train(c, str(tmp_path / "wd"))
  assert set(results) == ({"right"} if arg == "only=right"
                          else {"left", "right"})


@pytest.mark.parametrize("name", ["mmoe", "cgc", "ple", "dselect_k"])
def test_moe_option(tmp_path, name):
  write_digits_csv(tmp_path / "d.csv.gz", n=40)
  c = multi_mnist.get_config(f"runlocal,moe={name}")
  assert c.model.name == name and c.model.kwargs.expert == "lenet"
  c.data.kwargs.path = str(tmp_path / "d.csv.gz")
  c.batch_size = 8  # runlocal's 256 is more than the 40 digits
  exp = experiment.build(c, distribute.make_strategy("default"),
                         with_step=False)
  x, _ = next(iter(exp.source.dataset("train", 2)))
  out = exp.model(x)
  assert {t: tuple(v.shape) for t, v in out.items()} == {
      "left": (2, 10), "right": (2, 10)}


def test_unknown_moe():
  with pytest.raises(UserError, match="moe='moa'; known: mmoe"):
    multi_mnist.get_config("moe=moa")
