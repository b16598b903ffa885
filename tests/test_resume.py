"""Exact resume after SIGKILL, and checkpoints that survive a crash mid-save.

A deterministic run (op determinism, seeded data order, iterator and step
counters in the checkpoint) is killed with SIGKILL three times at different
steps (wherever the process happens to be: in a step, a summary write or a
checkpoint save) and rerun with the same workdir each time; it must end with
weights bit-identical to a run that was never interrupted.
"""

import os
import signal
import subprocess
import sys

import numpy as np
import tensorflow as tf

import train as train_main
from configs import toy_two_task
from tfmtl import checkpoint, distribute, experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 60
ARGS = ["train.py", "--config=configs/toy_two_task.py:runlocal",
        f"--config.steps={STEPS}", "--config.log_every=1",
        "--config.checkpoint_every=4", "--config.deterministic=True",
        "--config.data.kwargs.n=600", "--config.eval_batch_size=60"]


def _run(workdir, kill_after=None):
  """Runs train.py; with `kill_after`, SIGKILLs it once it has logged that
  step (it has usually moved on a little by then)."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  proc = subprocess.Popen([sys.executable, *ARGS, f"--workdir={workdir}"],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
  try:
    for line in proc.stdout:
      if kill_after and line.startswith("step "):
        if int(line.split()[1].split("/")[0]) >= kill_after:
          os.kill(proc.pid, signal.SIGKILL)
          break
    return proc.wait(timeout=120)
  finally:
    if proc.poll() is None:
      proc.kill()


def _weights(workdir):
  config = toy_two_task.get_config("runlocal")
  config.data.kwargs.n = 600
  exp = experiment.build(config, distribute.make_strategy("default"),
                         with_step=False)
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"),
                                 model=exp.model, optimizer=exp.optimizer)
  ckpt.checkpoint.restore(ckpt.latest).expect_partial()
  assert ckpt.latest.endswith(f"-{STEPS}")
  return [v.numpy() for v in exp.model.variables + exp.optimizer.variables]


def test_sigkill_at_three_steps_then_resume_is_bit_identical(tmp_path):
  straight, killed = str(tmp_path / "straight"), str(tmp_path / "killed")
  config = toy_two_task.get_config("runlocal")
  config.update(dict(steps=STEPS, log_every=1, checkpoint_every=4,
                     deterministic=True, eval_batch_size=60))
  config.data.kwargs.n = 600
  train_main.train(config, straight)  # in this process: one start-up less
  for kill_after in (3, 21, 42):
    assert _run(killed, kill_after) == -signal.SIGKILL
  assert _run(killed) == 0
  a, b = _weights(straight), _weights(killed)
  assert len(a) == len(b) > 0
  for x, y in zip(a, b):
    np.testing.assert_array_equal(x, y)


def _saved(tmp_path, values):
  v = tf.Variable(0.0)
  ckpt = checkpoint.Checkpointer(str(tmp_path), model=tf.train.Checkpoint(v=v))
  for step, value in values:
    v.assign(value)
    ckpt.save(step)
  return v, ckpt


def test_crash_mid_save_leaves_the_previous_checkpoint_usable(tmp_path):
  _saved(tmp_path, [(1, 1.0), (2, 2.0)])
  # A save of step 3 cut short: shard files exist, the index was not
  # written yet (TF writes the `checkpoint` state file last).
  (tmp_path / "ckpt-3.data-00000-of-00001").write_bytes(b"\0" * 10)
  (tmp_path / "ckpt-3.index").write_bytes(b"partial")
  v, ckpt = _saved(tmp_path, [])
  assert ckpt.restore() and float(v.numpy()) == 2.0


def test_damaged_newest_checkpoint_falls_back_to_the_previous(tmp_path):
  _saved(tmp_path, [(1, 1.0), (2, 2.0)])
  data = tmp_path / "ckpt-2.data-00000-of-00001"
  data.write_bytes(data.read_bytes()[:3])  # truncated
  v, ckpt = _saved(tmp_path, [])
  assert ckpt.restore() and float(v.numpy()) == 1.0
  assert ckpt.restored.endswith("ckpt-1")


def test_non_chief_saves_to_a_directory_it_deletes(tmp_path):
  v = tf.Variable(3.0)
  mine = tmp_path / ".tmp_worker_1"
  ckpt = checkpoint.Checkpointer(str(tmp_path / "checkpoints"),
                                 write_directory=str(mine),
                                 model=tf.train.Checkpoint(v=v))
  assert ckpt.save(5) is None
  assert not mine.exists() and not (tmp_path / "checkpoints").exists()
