"""A failed start leaves the workdir as it found it; user code that raises
is named; messages keep their reason; resume counts only the method in use.

docs/RELIABILITY.md, "Issue 23": each test names the case it covers. All
in-process (train.train, experiment.build, workdir); the command lines are
tests/test_config_check.py's subprocess test. The user functions are
in tests/user_functions.py, reached by name like a user's module.
"""

import errno
import json
import os

import numpy as np
import pytest
import tensorflow as tf

import train as train_main
from tfmtl import checkpoint, cli, errors, experiment, export
from tfmtl import workdir as workdir_lib
from tfmtl.data.multi_source import MultiSource
from tfmtl.data.source import DatasetSource
from tfmtl.errors import UserCodeError, UserError
from tests.helpers import toy_cli_config
from tests.user_functions import split as _split

HERE = "tests.user_functions"  # a user's module


_config = toy_cli_config


def _listing(path):
  """Every file and folder under `path` (None when it is absent)."""
  if not os.path.exists(path):
    return None
  return sorted(os.path.relpath(os.path.join(root, n), path)
                for root, dirs, files in os.walk(path) for n in dirs + files)


# ------------------------------- a failed start leaves no trace (item 1)


def _user_data(c, name, **model):
  c.data.name, c.data.kwargs = f"{HERE}:{name}", {}
  c.model.kwargs = dict(output_dim=model.get("output_dim", 1),
                        trunk_units=[4], tower_units=[])
  c.batch_size = 8
  return c


def _shape_mismatch():
  c = _user_data(_config(), "wide_labels", output_dim=2)
  for task in c.tasks.values():  # a user's loss: not checked statically
    task.loss = f"{HERE}:mse"
  return c


def _named(section, name):
  c = _config()
  c[section].name, c[section].kwargs = f"{HERE}:{name}", {}
  return c


def _user_loss():
  c = _config()
  c.tasks.y1.loss = f"{HERE}:bad_loss"
  return c


START_FAILURES = {
    "unknown eval split": (lambda: _config(eval_split="nope"),
                           "unknown split 'nope'"),
    "empty eval split": (lambda: _user_data(_config(), "empty_test_data"),
                         "split 'test' has no examples"),
    "output/label shape mismatch": (
        _shape_mismatch, f"loss '{HERE}:mse' of task 'y1' raised \\w+: "
        ".*(Incompatible shapes|Dimensions must be equal)"),
    "user loss raises": (_user_loss, f"loss '{HERE}:bad_loss' of task 'y1' "
                         "raised ValueError: labels must be positive"),
    "user model raises": (
        lambda: _named("model", "bad_model"),
        f"model '{HERE}:bad_model' raised ValueError: no such layer size"),
    "user data function raises": (
        lambda: _named("data", "bad_data"),
        f"data function '{HERE}:bad_data' raised KeyError: 'root'"),
}


@pytest.mark.parametrize("case", list(START_FAILURES))
def test_a_failed_start_leaves_a_new_workdir_absent(tmp_path, case):
  make, match = START_FAILURES[case]
  wd = tmp_path / "runs" / "new"  # its parent is made by the run too
  with pytest.raises(UserError, match=match) as e:
    train_main.train(make(), str(wd))
  assert "\n" not in str(e.value)
  assert not (tmp_path / "runs").exists()


def test_an_existing_workdir_keeps_only_what_it_had(tmp_path):
  wd = tmp_path / "wd"
  wd.mkdir()
  (wd / "notes.txt").write_text("mine")
  (wd / "train").mkdir()  # e.g. logs the user keeps
  c = _config()
  c.tasks.y1.loss = f"{HERE}:bad_loss"
  with pytest.raises(UserCodeError):
    train_main.train(c, str(wd))
  assert _listing(wd) == ["notes.txt", "train"]
  # A lock file it had stays too (emptied by the release, as ever).
  (wd / "lock").write_text("")
  with pytest.raises(UserCodeError):
    train_main.train(c, str(wd))
  assert _listing(wd) == ["lock", "notes.txt", "train"]


def test_a_full_disk_at_start_is_one_line_and_leaves_nothing(tmp_path,
                                                            monkeypatch):
  def full(fd, data, offset):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
  monkeypatch.setattr(os, "pwrite", full)  # the lock's first write
  wd = tmp_path / "wd"
  with pytest.raises(UserError, match=r"cannot write to workdir .*: No space "
                     r"left on device; free disk space or give a writable "
                     r"--workdir"):
    train_main.train(_config(), str(wd))
  assert not wd.exists()


def test_steps_0_trains_nothing_and_evaluates_the_initial_model(tmp_path,
                                                                capsys):
  wd = tmp_path / "wd"
  results = train_main.train(_config(steps=0), str(wd))
  assert set(results) == {"y1", "y2"} and np.isfinite(results["y1"]["mse"])
  assert "final test metrics of the initial model (steps = 0: nothing " \
         "trained)" in capsys.readouterr().out
  assert not wd.exists()  # nothing to save, nothing written


def test_the_first_step_is_where_the_workdir_becomes_the_runs(tmp_path):
  wd = tmp_path / "wd"
  hold = workdir_lib.Hold(str(wd))
  with hold:
    assert _listing(wd) == ["lock"]
  assert not wd.exists()
  with workdir_lib.Hold(str(wd)) as hold:
    hold.started = True
  assert _listing(wd) == ["lock"]
  # A lock file removed between a run's open and its flock: the run locks
  # the file at the path, not the removed one.
  lock = workdir_lib.Lock(str(wd))
  real_flock = workdir_lib.fcntl.flock
  calls = []

  def flock_after_removal(fd, op):
    if not calls:
      os.remove(lock.path)
    calls.append(fd)
    return real_flock(fd, op)
  workdir_lib.fcntl.flock = flock_after_removal
  try:
    lock.acquire()
  finally:
    workdir_lib.fcntl.flock = real_flock
  assert len(calls) == 2 and os.path.exists(lock.path)
  assert json.load(open(lock.path))["pid"] == os.getpid()
  lock.release()


def test_the_tensorboard_writer_opens_at_the_first_log(tmp_path):
  from tfmtl import summaries  # pylint: disable=g-import-not-at-top
  writer = summaries.Writer(str(tmp_path / "train"))
  writer.images(1, {})
  assert not (tmp_path / "train").exists()
  writer.scalars(1, {"loss": 1.0})
  assert (tmp_path / "train").exists()


# ---------------------------------- user code and empty data (item 2)


def test_a_user_function_that_raises_keeps_its_traceback_then_one_line(
    capsys):
  c = _named("model", "bad_model")
  with pytest.raises(UserCodeError) as e:
    experiment.build(c, tf.distribute.get_strategy())
  assert isinstance(e.value.error, ValueError)
  cli.report(e.value)
  err = capsys.readouterr().err.splitlines()
  assert err[0] == "Traceback (most recent call last):"
  assert any('raise ValueError("no such layer size")' in l for l in err)
  assert err[-1] == (f"error: model '{HERE}:bad_model' raised ValueError: "
                     "no such layer size")


def test_a_user_loss_raising_while_the_step_traces_is_mapped_to_its_source(
    tmp_path, capsys):
  with pytest.raises(UserCodeError) as e:
    train_main.train(_user_loss(), str(tmp_path / "wd"))
  cli.report(e.value)
  err = capsys.readouterr().err
  assert "user_functions.py" in err and "in bad_loss" in err
  assert err.splitlines()[-1].startswith(f"error: loss '{HERE}:bad_loss'")


def test_a_shipped_factory_refusing_its_arguments_is_one_line():
  c = _config()
  c.model.kwargs.bogus = 1
  with pytest.raises(UserError, match=r"model 'hard_sharing' can't be built: "
                     r"ValueError: Unrecognized keyword arguments .*bogus.*; "
                     r"check config.model.kwargs"):
    experiment.build(c, tf.distribute.get_strategy(), with_step=False)
  c = _config()
  c.data.kwargs.n = -5
  with pytest.raises(UserError, match=r"data source 'correlated_regression' "
                     r"can't be built with \(.*n=-5.*\): ValueError: negative"):
    experiment.build(c, tf.distribute.get_strategy(), with_step=False)


@pytest.mark.parametrize("mode, kwargs", [
    ("concat", {}), ("sample", {}), ("sample", dict(sizes={"f": 1, "e": 1}))])
def test_a_multi_source_part_without_examples_is_named(mode, kwargs):
  full = DatasetSource({"train": _split(40, tasks=["a"])})
  empty = DatasetSource({"train": _split(0, tasks=["b"])})
  with pytest.raises(UserError, match=r"multi_source: source 'e' \(tasks "
                     r"\['b'\]\) has no train examples"):
    MultiSource({"f": (full, ["a"]), "e": (empty, ["b"])}, mode=mode,
                **kwargs)


def test_an_empty_eval_split_of_one_multi_source_part_is_named():
  from tfmtl import evaluation  # pylint: disable=g-import-not-at-top
  a = DatasetSource({"train": _split(8, tasks=["a"]),
                     "test": _split(2, tasks=["a"])})
  b = DatasetSource({"train": _split(8, tasks=["b"]),
                     "test": _split(0, tasks=["b"])})
  source = MultiSource({"p": (a, ["a"]), "q": (b, ["b"])})
  with pytest.raises(UserError, match=r"split 'test' of the source of "
                     r"task\(s\) \['b'\] has no examples"):
    evaluation.check_split(source, "test")


# ------------------------------------- messages keep the reason (item 3)

TF_DISK_FULL = (
    "{{function_node __wrapped__MergeV2Checkpoints_device_/job:localhost/"
    "replica:0/task:0/device:CPU:0}} " + "/data/" + "x" * 230 +
    "/checkpoints/ckpt-2_temp/part-00000-of-00001.data-00000-of-00001."
    "tempstate17; No space left on device [Op:MergeV2Checkpoints]")


def test_reason_drops_the_function_node_and_keeps_the_errno_text():
  e = tf.errors.ResourceExhaustedError(None, None, TF_DISK_FULL)
  text = errors.reason(e)
  assert "function_node" not in text and "[Op:" not in text
  assert text.endswith("No space left on device") and len(text) <= 240
  assert errors.reason(OSError(errno.EROFS, "Read-only file system", "/x")
                       ) == "/x: Read-only file system"


def test_disk_full_at_a_checkpoint_keeps_its_reason(tmp_path, monkeypatch):
  def disk_full(self, step):
    raise tf.errors.ResourceExhaustedError(None, None, TF_DISK_FULL)
  monkeypatch.setattr(checkpoint.Checkpointer, "save", disk_full)
  with pytest.raises(UserError, match=r"\(ResourceExhaustedError: /data/x+"
                     r".* \.\.\. .*No space left on device\); no checkpoint "
                     r"was saved before") as e:
    train_main.train(_config(), str(tmp_path / "wd"))
  assert "function_node" not in str(e.value)


def test_disk_full_at_an_export_keeps_its_reason(tmp_path, monkeypatch):
  from tfmtl.models.hard_sharing import HardSharingMLP  # pylint: disable=g-import-not-at-top
  model = HardSharingMLP(["a"], trunk_units=(2,), tower_units=())
  model(tf.zeros([1, 3]))

  def full(*args, **kwargs):
    raise tf.errors.ResourceExhaustedError(None, None, TF_DISK_FULL)
  import keras  # pylint: disable=g-import-not-at-top
  # keras.export.ExportArchive() makes an instance of a backend's subclass.
  monkeypatch.setattr(type(keras.export.ExportArchive()), "write_out", full)
  with pytest.raises(UserError, match=r"could not write the SavedModel .*No "
                     r"space left on device\); nothing was exported") as e:
    export.export_saved_model(model, tf.TensorSpec([None, 3]),
                              str(tmp_path / "export"))
  assert "function_node" not in str(e.value)
  assert os.listdir(tmp_path) == []


def test_an_unknown_task_override_names_the_tasks_and_how_to_add_one():
  c = _config()
  with pytest.raises(UserError, match=r"--config.tasks.y3.loss: config.tasks "
                     r"has no task 'y3' \(its tasks: y1, y2\); a task is added "
                     r"in the config file .*--config.tasks is not an open "
                     r"key"):
    experiment.apply_open_overrides(c, [("tasks.y3", "loss", "mse")])
  assert "y3" not in c.tasks
  # A known task's settings are open (`missing` is in no config file).
  experiment.apply_open_overrides(c, [("tasks.y1", "missing", "nan"),
                                      ("tasks.y1", "weight", "2")])
  assert c.tasks.y1.missing == "nan" and c.tasks.y1.weight == 2.0
  msg = experiment._unknown_key(  # pylint: disable=protected-access
      "'y3'", ["train.py", "--config.tasks.y3={'loss': 'mse'}"])
  assert msg.startswith("--config.tasks.y3: config.tasks has no task 'y3'")
  msg = experiment._unknown_key(  # pylint: disable=protected-access
      "'shared'", ["train.py", "--config.clip_by_value.shared=1"])
  assert msg.startswith("--config.clip_by_value.shared: the config has no "
                        "key 'clip_by_value.shared'; set new keys in the "
                        "config file")


# ------------------------------- resume counts the method in use (item 4)


@pytest.mark.parametrize("method, other, own", [
    ("gradnorm", "dwa", "gradnorm"),
    ("uncertainty+pcgrad", "gradnorm", "pcgrad"),
])
def test_resume_counts_only_the_method_kwargs_of_the_method_in_use(
    tmp_path, method, other, own):
  wd = str(tmp_path)
  c = _config(method=method)
  c.method_kwargs = dict(gradnorm=dict(alpha=0.16), dwa=dict(temp=2.0),
                         pcgrad=dict(), uncertainty=dict())
  workdir_lib.save(wd, c)
  changed = _config(method=method)
  changed.method_kwargs = dict(c.method_kwargs)
  changed.method_kwargs[other] = dict(c.method_kwargs[other], x=1)
  assert workdir_lib.check_resume(wd, changed) == {}
  assert workdir_lib.check_eval(wd, changed) == {}
  changed.method_kwargs[own] = dict(changed.method_kwargs[own], y=2)
  with pytest.raises(UserError, match=f"method_kwargs.{own}.y"):
    workdir_lib.check_resume(wd, changed)


def test_an_allowed_config_change_is_recorded_with_the_next_checkpoint(
    tmp_path):
  wd = str(tmp_path / "wd")
  train_main.train(_config(), wd)
  before = _listing(wd), open(os.path.join(wd, "config.json")).read()
  changed = _config()
  changed.optimizer.learning_rate = 0.01
  # Nothing left to train (steps = 2 reached): nothing written.
  train_main.train(changed, wd, allow_config_change=True)
  assert (_listing(wd), open(os.path.join(wd, "config.json")).read()) == \
      before
  changed.steps = 4
  train_main.train(changed, wd, allow_config_change=True)
  with open(os.path.join(wd, workdir_lib.CHANGES_FILE)) as f:
    record = [json.loads(l) for l in f]
  assert [(r["step"], r["changes"]) for r in record] == [
      (2, {"optimizer.learning_rate": [0.001, 0.01]})]
  assert workdir_lib.load(wd)["optimizer"]["learning_rate"] == 0.01
