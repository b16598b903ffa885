"""Bad input is caught before training with one clear error.

Each case raises `UserError` (train.py prints it as one `error:` line and
exits 2) before anything is written to the workdir. Unknown config keys,
methods and files, a workdir of another model and an existing export
directory are covered in tests/test_train.py.
"""

import os
import subprocess
import sys

import numpy as np
import tensorflow as tf
import pytest

import train as train_main
from configs import toy_two_task
from tfmtl import experiment, methods
from tfmtl.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(**overrides):
  c = toy_two_task.get_config("runlocal")
  c.update(dict(steps=2, log_every=1, checkpoint_every=2))
  c.update(overrides)
  return c


def _fails(tmp_path, config, match):
  wd = tmp_path / "wd"
  with pytest.raises(UserError, match=match):
    train_main.train(config, str(wd))
  assert not wd.exists(), "a failed run left a workdir behind"


def test_batch_not_divisible_by_replicas(tmp_path):
  _fails(tmp_path, _config(strategy="mirrored", num_devices=2,
                           batch_size=101), "not divisible by the 2 replicas")


def test_unknown_strategy_and_precision(tmp_path):
  _fails(tmp_path, _config(strategy="gpus"), "unknown strategy 'gpus'")
  c = _config()
  c.mixed_precision = "float8"
  _fails(tmp_path, c, "mixed_precision 'float8'")


def test_dataset_directory_missing(tmp_path):
  c = _config()
  c.data = dict(name="cityscapes_npy", kwargs=dict(root=str(tmp_path / "no")))
  c.tasks = dict(semantic=dict(loss="sparse_ce"), depth=dict(loss="masked_l1"))
  with pytest.raises(UserError):
    train_main.train(c, str(tmp_path / "wd"))
  assert not (tmp_path / "wd").exists()


def test_task_the_model_does_not_output():
  c = _config()
  with pytest.raises(UserError, match=r"\['y2'\] are not outputs of model"):
    experiment.check_outputs(c, None, {"y1": np.zeros([2, 1])}, {})


def test_labels_out_of_range():
  c = _config()
  c.tasks = dict(semantic=dict(loss="sparse_ce"))
  out = {"semantic": np.zeros([2, 4, 4, 7], np.float32)}
  labels = np.full([2, 4, 4, 1], 3)
  labels[1, 2, 2] = 255  # the ignore label is fine
  labels[0, 0, 0] = -1  # void in the .npy layout: fine
  experiment.check_outputs(c, None, out, {"semantic": labels})
  labels[1, 0, 0] = 19
  with pytest.raises(UserError, match="label 19 .* out of range for the 7"):
    experiment.check_outputs(c, None, out, {"semantic": labels})


def test_method_xla_cannot_compile_is_refused_on_tpu(tmp_path, monkeypatch):
  cls = type(methods.get("pcgrad"))
  monkeypatch.setattr(cls, "xla_ok", False, raising=False)
  monkeypatch.setattr(cls, "xla_reason", "uses a py_function", raising=False)
  _fails(tmp_path, _config(method="pcgrad", strategy="tpu"),
         "can't be compiled with XLA: uses a py_function; it can't run on TPU")
  _fails(tmp_path, _config(method="pcgrad", jit_compile=True),
         "uses a py_function; it can't run with jit_compile")


def test_cli_prints_one_error_line(tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  proc = subprocess.run(
      [sys.executable, "train.py", "--config=configs/toy_two_task.py:runlocal",
       f"--workdir={tmp_path}/w", "--strategy=mirrored",
       "--config.num_devices=2", "--config.batch_size=101"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 2
  lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and "not divisible" in lines[0], proc.stderr[-2000:]
  assert "Traceback" not in proc.stderr
  assert not os.path.exists(f"{tmp_path}/w")


def test_jit_compile_with_several_mirrored_replicas_is_refused(mirrored):
  import keras

  from tfmtl.models.hard_sharing import HardSharingMLP
  from tfmtl.tasks import Task
  from tfmtl.engine import make_train_step

  def mse(y, p):
    return tf.reduce_mean(tf.square(y - p), -1)

  with mirrored.scope():
    model = HardSharingMLP(["a", "b"], trunk_units=(4,), tower_units=(2,))
    model(tf.zeros([1, 3]))
    opt = keras.optimizers.SGD(0.1)
  with pytest.raises(UserError, match="jit_compile with MirroredStrategy"):
    make_train_step(model, [Task("a", mse), Task("b", mse)],
                    methods.get("sum"), opt, strategy=mirrored,
                    jit_compile=True)
