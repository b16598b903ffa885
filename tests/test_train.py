"""train.py / eval.py end to end on the toy: resume, errors, export."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import train as train_main
from configs import toy_two_task
from tfmtl import checkpoint, distribute, experiment
from tfmtl.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(**overrides):
  c = toy_two_task.get_config("runlocal")
  c.deterministic = True
  c.log_every = 500
  for k, v in overrides.items():
    setattr(c, k, v)
  return c


def _final_weights(workdir, config):
  exp = experiment.build(config, distribute.make_strategy("default"),
                         with_step=False)
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"),
                                 model=exp.model)
  ckpt.checkpoint.restore(ckpt.latest).expect_partial()
  return [v.numpy() for v in exp.model.variables]


def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
  straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
  train_main.train(_config(steps=2000, checkpoint_every=1000), straight)
  train_main.train(_config(steps=1000, checkpoint_every=1000), split)
  train_main.train(_config(steps=2000, checkpoint_every=1000), split)
  a = _final_weights(straight, _config())
  b = _final_weights(split, _config())
  assert len(a) == len(b) > 0
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)


def test_workdir_of_another_model_is_refused(tmp_path):
  wd = str(tmp_path / "wd")
  train_main.train(_config(steps=2, checkpoint_every=2), wd)
  other = _config(steps=4)
  other.model.kwargs.trunk_units = [32]
  with pytest.raises(UserError, match="different 'model'"):
    train_main.train(other, wd)


def _cli(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  return subprocess.run([sys.executable, *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=300)


def _error_lines(proc):
  return [l for l in proc.stderr.splitlines() if l.startswith("error:")]


@pytest.mark.parametrize("args, expected", [
    (["--config.stepz=3"], "stepz"),
    (["--config.method=nope"], "unknown method 'nope'; known:"),
    (["--config=configs/missing.py"], "missing.py"),
])
def test_bad_config_gives_one_clear_line(tmp_path, args, expected):
  config = [a for a in args if a.startswith("--config=")] or [
      "--config=configs/toy_two_task.py:runlocal"]
  rest = [a for a in args if not a.startswith("--config=")]
  proc = _cli("train.py", *config, f"--workdir={tmp_path}/w", *rest)
  assert proc.returncode != 0
  lines = _error_lines(proc)
  assert len(lines) == 1 and expected in lines[0], proc.stderr[-2000:]
  assert not os.path.exists(f"{tmp_path}/w"), "a failed run left a workdir"


def test_workdir_that_is_a_file_is_refused(tmp_path):
  f = tmp_path / "file"
  f.write_text("x")
  proc = _cli("train.py", "--config=configs/toy_two_task.py:runlocal",
              f"--workdir={f}")
  assert proc.returncode != 0
  assert "is a file" in " ".join(_error_lines(proc))


def test_train_eval_export_reload_in_a_fresh_process(tmp_path):
  wd, export = str(tmp_path / "wd"), str(tmp_path / "export")
  proc = _cli("train.py", "--config=configs/toy_two_task.py:runlocal",
              f"--workdir={wd}", "--config.steps=20")
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert "final test metrics" in proc.stdout
  proc = _cli("eval.py", "--config=configs/toy_two_task.py:runlocal",
              f"--workdir={wd}", f"--export_dir={export}", "--format=json")
  assert proc.returncode == 0, proc.stderr[-2000:]
  report = json.loads(proc.stdout)
  assert set(report["metrics"]) == {"y1", "y2"}
  assert report["params"] == 11714 and report["gmacs"] > 0
  assert report["step"] == 20
  with open(os.path.join(wd, "results_test.json")) as f:
    assert json.load(f)["metrics"] == report["metrics"]
  # A second export to the same place is refused, leaving the first intact.
  again = _cli("eval.py", "--config=configs/toy_two_task.py:runlocal",
               f"--workdir={wd}", f"--export_dir={export}")
  assert again.returncode != 0 and "already exists" in again.stderr
  # Serve from a fresh process and compare with the restored Keras model.
  x = np.random.default_rng(0).normal(size=(5, 100)).astype(np.float32)
  np.save(tmp_path / "x.npy", x)
  code = (
      "import numpy as np, tensorflow as tf, sys\n"
      f"m = tf.saved_model.load({export!r})\n"
      f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
      "out = m.signatures['serve'](inputs=tf.constant(x))\n"
      f"np.savez({str(tmp_path / 'served.npz')!r}, **{{k: v.numpy() for k, v in out.items()}})\n")
  proc = _cli("-c", code)
  assert proc.returncode == 0, proc.stderr[-2000:]
  served = np.load(tmp_path / "served.npz")
  config = toy_two_task.get_config("runlocal")
  exp = experiment.build(config, distribute.make_strategy("default"),
                         with_step=False)
  ckpt = checkpoint.Checkpointer(os.path.join(wd, "checkpoints"),
                                 model=exp.model)
  ckpt.checkpoint.restore(ckpt.latest).expect_partial()
  expected = exp.model(x, training=False)
  for k in ("y1", "y2"):
    np.testing.assert_allclose(served[k], expected[k].numpy(), atol=1e-6)
