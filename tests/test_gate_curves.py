"""tools/gate_curves.py: per-layer gates over training, from TensorBoard."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.errors import UserError
from tools import gate_curves


def _run(tmp_path, name, settings, curves, steps=(10, 20, 30, 40)):
  wd = tmp_path / name
  os.makedirs(wd)
  with open(wd / "config.json", "w") as f:
    json.dump({"method": "prf", "model": {"name": "net"},
               "tasks": {"rot": {}, "flow": {}},
               "method_kwargs": {"prf": settings}}, f)
  writer = tf.summary.create_file_writer(str(wd / "train"))
  with writer.as_default():
    for i, step in enumerate(steps):
      for tag, value in curves.items():
        tf.summary.scalar(tag, value(i), step=step)
      tf.summary.scalar("loss/rot", 1.0, step=step)
  writer.close()
  return str(wd)


def test_rows_average_seeds_per_layer_and_step(tmp_path):
  plain = {"main_task": "rot"}
  gate = {"main_task": "rot", "variance": "mean"}
  dirs = [
      _run(tmp_path, "p0", plain, {"beta/conv_1": lambda i: 1.0 + i,
                                   "beta/conv_2": lambda i: 2.0,
                                   "agree/conv_1": lambda i: 0.5}),
      # One more logged step than p0: cut to the steps both logged.
      _run(tmp_path, "p1", plain, {"beta/conv_1": lambda i: 3.0 + i,
                                   "beta/conv_2": lambda i: 4.0,
                                   "agree/conv_1": lambda i: 0.5},
           steps=(10, 20, 30, 40, 50)),
      _run(tmp_path, "g0", gate, {"beta/conv_1": lambda i: 0.01,
                                  "beta/conv_2": lambda i: 0.02}),
  ]
  curves = gate_curves.gather(dirs, ["beta"], layers="conv")
  assert list(curves) == ["net + prf", "net + prf (variance=mean)"]
  steps, values = curves["net + prf"]["beta"]["conv_1"]
  np.testing.assert_array_equal(steps, [10, 20, 30, 40])
  np.testing.assert_allclose(values, [[1, 2, 3, 4], [3, 4, 5, 6]])
  assert "agree" not in curves["net + prf"]  # not asked for
  text = gate_curves.table(curves)
  # conv_1 over training: seed means 2.5 and 4.5 -> 3.5 ± 1; last third
  # (steps >= 30): 3.5 and 5.5 -> 4.5 ± 1.
  assert "| net + prf | beta | conv_1 | 3.5 ± 1 | 4.5 ± 1 | 2 |" in text
  assert "| net + prf (variance=mean) | beta | conv_2 | 0.02 | 0.02 | 1 |" in text
  hlines = gate_curves.parse_hlines(["beta=0.1:ATG", "beta=2"])
  assert hlines == {"beta": [(0.1, "ATG"), (2.0, "")]}
  with pytest.raises(UserError, match="TAG=VALUE"):
    gate_curves.parse_hlines(["beta"])
  gate_curves.picture(curves, str(tmp_path / "beta.png"), hlines)
  assert os.path.getsize(tmp_path / "beta.png") > 1000


def test_runs_without_the_logs_say_so(tmp_path):
  wd = _run(tmp_path, "a", {}, {})
  with pytest.raises(UserError, match="no beta logs"):
    gate_curves.gather([wd], ["beta"])
  with pytest.raises(UserError, match="no config.json"):
    gate_curves.gather([str(tmp_path)], ["beta"])
  os.makedirs(tmp_path / "b")
  with open(tmp_path / "b" / "config.json", "w") as f:
    json.dump({"method": "prf"}, f)
  with pytest.raises(UserError, match="no TensorBoard logs"):
    gate_curves.gather([str(tmp_path / "b")], ["beta"])
