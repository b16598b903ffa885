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
import pytest
import tensorflow as tf

import train as train_main
from configs import toy_two_task
from tfmtl import checkpoint, distribute, experiment, methods

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


# --------------------------------- every stateful method resumes exactly


def _method_setup(name):
  import keras  # pylint: disable=g-import-not-at-top
  from tests import test_methods_contract as contract  # pylint: disable=g-import-not-at-top
  from tfmtl.models.hard_sharing import HardSharingMLP  # pylint: disable=g-import-not-at-top
  from tfmtl.engine import make_train_step  # pylint: disable=g-import-not-at-top
  model = HardSharingMLP(contract.NAMES, trunk_units=(6,), tower_units=(3,),
                         dropout=0.0, seed=1)
  model(tf.zeros([1, 4]))
  method = methods.get(name, **contract.KWARGS.get(name, {}))
  opt = keras.optimizers.Adam(0.01)
  step = make_train_step(model, contract._tasks(name), method, opt)  # pylint: disable=protected-access
  return model, method, opt, step


def _method_batches(n=6, size=8):
  rng = np.random.default_rng(5)
  x = rng.normal(size=(n, size, 4)).astype(np.float32)
  return [(x[i], {"a": x[i, :, :1] * 2.0,
                  "b": np.sin(x[i, :, 1:2]) - x[i, :, 2:3]})
          for i in range(n)]


# One method per kind of state (the gradient aggregators but PRF share the
# solvers' warm start, `mgda` stands for them); every method costs a trace.
STATEFUL = ["dtp", "dwa", "gradnorm", "pseudo_gradnorm", "uncertainty", "prf",
            "mgda"]


@pytest.mark.parametrize("name", STATEFUL)
def test_stateful_method_resumes_with_its_state(tmp_path, name):
  """3 steps, checkpoint, 3 more steps; then restore the checkpoint into the
  same objects and take the 3 steps again: the method's variables and the
  model's weights must come out the same. State the checkpoint misses
  (untracked variables, Python attributes) keeps its later value and
  shows."""
  data = _method_batches()
  model, method, opt, step = _method_setup(name)
  assert list(method.variables), f"{name} has no state: update STATEFUL"
  ckpt = checkpoint.Checkpointer(str(tmp_path), model=model, optimizer=opt,
                                 method=method, counters=step.counters)

  def state():
    return [np.array(v) for v in list(method.variables) +
            model.trainable_variables]
  for b in data[:3]:
    step(b)
  ckpt.save(3)
  for b in data[3:]:
    step(b)
  straight = state()
  assert ckpt.restore()
  for b in data[3:]:
    step(b)
  resumed = state()
  for i, (a, b) in enumerate(zip(straight, resumed)):
    np.testing.assert_array_equal(a, b, err_msg=f"{name}: variable {i}")
