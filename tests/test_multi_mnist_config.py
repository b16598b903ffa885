"""configs/multi_mnist.py trains and evaluates on a tiny digits fixture."""

import pytest

import train as train_main
from configs import multi_mnist
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
