"""No clobbered runs, no silent wrong results, one-line errors (issue 15).

Each test names the case of docs/RELIABILITY.md it covers. In-process where
possible; the CLI behaviours (a second live run, SIGTERM, eval.py without
--config, a config file with a syntax error) share one test of subprocesses.
"""

import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import train as train_main
from configs import toy_two_task
from tests.helpers import toy_cli_config
from tfmtl import checkpoint, evaluation
from tfmtl import workdir as workdir_lib
from tfmtl.data import cityscapes, embedded, kitti_odometry, marker, scenes
from tfmtl.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_config = toy_cli_config


# ------------------------------------------- impossible settings (item 6)


@pytest.mark.parametrize("key, value, match", [
    ("learning_rate", -0.01, r"optimizer.learning_rate = -0.01 must be a "
                             "positive"),
    ("learning_rate", 0.0, "learning_rate = 0.0 must be a positive"),
    ("clip_global_norm", -1.0, r"clip_global_norm = -1.0 must be >= 0"),
    ("max_nonfinite_skips", 0, r"max_nonfinite_skips = 0 must be > 0"),
    ("batch_size", 0, r"batch_size = 0 must be > 0"),
    ("batch_size", -4, r"batch_size = -4 must be > 0"),
    ("checkpoint_every", 0, r"checkpoint_every = 0 must be > 0"),
    ("log_every", 0, r"log_every = 0 must be > 0"),
    ("keep_checkpoints", 0, r"keep_checkpoints = 0 must be > 0"),
    ("steps", -1, r"steps = -1 must be >= 0"),
])
def test_impossible_setting_is_one_line_and_writes_nothing(
    tmp_path, key, value, match):
  c = _config()
  if key == "learning_rate":
    c.optimizer.learning_rate = value
  else:
    c[key] = value
  wd = tmp_path / "wd"
  with pytest.raises(UserError, match=match) as e:
    train_main.train(c, str(wd))
  assert "\n" not in str(e.value)
  assert not wd.exists()


# ---------------------------------------------------- workdir lock (item 1)


def test_lock_names_a_live_holder_and_takes_over_a_dead_ones(tmp_path,
                                                            capfd):
  wd = str(tmp_path / "wd")
  with workdir_lib.Lock(wd):
    with pytest.raises(UserError, match=f"in use by a live run \\(pid "
                       f"{os.getpid()} on host {socket.gethostname()}"):
      workdir_lib.Lock(wd).acquire()
    with pytest.raises(UserError, match="in use by a live run"):
      train_main.train(_config(), wd)
  assert open(os.path.join(wd, "lock")).read() == ""  # released
  # A lock file left by a process that died (the kernel dropped its flock).
  with open(os.path.join(wd, "lock"), "w") as f:
    json.dump(dict(host="gone-host", pid=4242, started="2026-01-01"), f)
  capfd.readouterr()
  with workdir_lib.Lock(wd):
    held = json.load(open(os.path.join(wd, "lock")))
    assert held["pid"] == os.getpid()
  err = capfd.readouterr().err
  assert "taking over the lock of a run that is gone (pid 4242 on host " \
         "gone-host" in err


def test_unwritable_workdir_is_one_line(tmp_path):
  (tmp_path / "file").write_text("x")
  with pytest.raises(UserError, match="cannot write to workdir"):
    workdir_lib.Lock(str(tmp_path / "file" / "wd")).acquire()


# ---------------------- config.json with the first checkpoint (items 8, 3)


def test_failed_start_leaves_no_config_that_refuses_the_next_run(
    tmp_path, monkeypatch):
  wd = str(tmp_path / "wd")

  def disk_full(self, step):
    raise tf.errors.ResourceExhaustedError(None, None,
                                           "No space left on device")
  with monkeypatch.context() as m:
    m.setattr(checkpoint.Checkpointer, "save", disk_full)
    # Disk full (or read-only) at the first save: one line, and no
    # config.json that would refuse the next run.
    with pytest.raises(UserError, match="could not save the checkpoint of "
                       "step 2 .*No space left on device.*no checkpoint was "
                       "saved before") as e:
      train_main.train(_config(), wd)
  assert "\n" not in str(e.value)
  assert not os.path.exists(os.path.join(wd, workdir_lib.CONFIG_FILE))
  trained = []
  train_main.train(_config(method="uncertainty"), wd,  # another method: ok
                   after_training=lambda exp: trained.extend(
                       np.array(v) for v in exp.method.variables))
  assert workdir_lib.load(wd)["method"] == "uncertainty"
  # The method's state is in train.py's checkpoint (resume keeps it).
  latest = tf.train.latest_checkpoint(os.path.join(wd, "checkpoints"))
  saved = [tf.train.load_variable(latest, k) for k, _ in
           tf.train.list_variables(latest)
           if k.startswith("method/") and k.endswith("VARIABLE_VALUE")]
  assert len(saved) == len(trained) == 1
  np.testing.assert_array_equal(saved[0], trained[0])
  assert np.any(trained[0] != 0.0)  # trained away from its initial value


def test_resume_refuses_changed_training_settings_unless_allowed(tmp_path):
  wd = str(tmp_path / "wd")
  train_main.train(_config(), wd)
  changed = _config(steps=4)  # steps may change freely: not listed
  changed.optimizer.name = "sgd"
  changed.data.kwargs.seed = 7
  with pytest.raises(UserError, match=r"changed training settings: "
                     r"data.kwargs.seed \(42 -> 7\), optimizer.name "
                     r"\('adam' -> 'sgd'\); .*--allow_config_change"):
    train_main.train(changed, wd)
  train_main.train(changed, wd, allow_config_change=True)
  with open(os.path.join(wd, workdir_lib.CHANGES_FILE)) as f:
    record = [json.loads(l) for l in f]
  assert record == [dict(record[0], step=2, changes={
      "data.kwargs.seed": [42, 7], "optimizer.name": ["adam", "sgd"]})]
  assert workdir_lib.load(wd)["optimizer"]["name"] == "sgd"


# ------------------------------------ lost checkpoint index (item 4)


def _saved(directory, values, **kwargs):
  v = tf.Variable(0.0)
  ckpt = checkpoint.Checkpointer(str(directory), model=tf.train.Checkpoint(v=v),
                                 **kwargs)
  for step, value in values:
    v.assign(value)
    ckpt.save(step)
  return v, ckpt


@pytest.mark.parametrize("damage", ["missing", "garbled"])
def test_lost_index_recovers_the_newest_readable_checkpoint(tmp_path, capfd,
                                                            damage):
  _saved(tmp_path, [(1, 1.0), (2, 2.0), (3, 3.0)])
  index = tmp_path / "checkpoint"
  if damage == "missing":
    index.unlink()
  else:
    index.write_bytes(b"model_checkpoint_path: \x00{{ garbled")
  # The newest is truncated too: the one before is taken.
  data = tmp_path / "ckpt-3.data-00000-of-00001"
  data.write_bytes(data.read_bytes()[:3])
  (tmp_path / "ckpt-4_temp").mkdir()  # a killed save's leftovers
  (tmp_path / "ckpt-4_temp" / "part-00000").write_bytes(b"x")
  v, ckpt = _saved(tmp_path, [])
  assert not (tmp_path / "ckpt-4_temp").exists()
  assert ckpt.restore() and float(v.numpy()) == 2.0
  err = capfd.readouterr().err
  assert f"checkpoint index {index} is {'missing' if damage == 'missing' else 'unreadable'}" in err
  # The index is repaired: the manager knows (and in turn deletes) them.
  assert [os.path.basename(p) for p in ckpt.manager.checkpoints] == [
      "ckpt-1", "ckpt-2"]
  ckpt.save(5)
  assert ckpt.latest.endswith("ckpt-5")


def test_read_only_checkpointer_changes_nothing(tmp_path):
  _saved(tmp_path, [(1, 1.0)])
  (tmp_path / "checkpoint").unlink()
  (tmp_path / "ckpt-2_temp").mkdir()
  v, ckpt = _saved(tmp_path, [], read_only=True)
  assert ckpt.restore() and float(v.numpy()) == 1.0
  assert not (tmp_path / "checkpoint").exists()
  assert (tmp_path / "ckpt-2_temp").exists()


# --------------------- a damaged checkpoint is not a changed config (item 9)


def _damage(path, how):
  """Damages a file the ways a disk or a cut copy would."""
  if how == "missing":
    os.remove(path)
    return
  with open(path, "rb") as f:
    data = f.read()
  noise = np.random.default_rng(0).bytes(len(data))
  middle = len(data) // 2
  with open(path, "wb") as f:
    f.write({"empty": b"", "truncated": data[:middle], "random": noise,
             "middle": data[:middle - 8] + noise[:16] + data[middle + 8:],
             }[how])


def _two_variables(directory, steps):
  v, w = tf.Variable(tf.zeros([64])), tf.Variable(0.0)
  ckpt = checkpoint.Checkpointer(
      str(directory), model=tf.train.Checkpoint(v=v, w=w))
  for step in steps:
    v.assign(tf.fill([64], float(step)))
    w.assign(float(step))
    ckpt.save(step)
  return v, w, ckpt


@pytest.mark.parametrize("how", ["empty", "truncated", "random", "middle",
                                 "missing"])
@pytest.mark.parametrize("file", ["index", "data-00000-of-00001"])
def test_damaged_newest_checkpoint_falls_back_naming_the_file(
    tmp_path, capfd, file, how):
  _two_variables(tmp_path, [1, 2])
  _damage(str(tmp_path / f"ckpt-2.{file}"), how)
  v, w, ckpt = _two_variables(tmp_path, [])
  assert ckpt.restore() and ckpt.restored.endswith("ckpt-1")
  assert float(w.numpy()) == 1.0 and np.all(v.numpy() == 1.0)
  err = capfd.readouterr().err
  assert f"warning: checkpoint {tmp_path / 'ckpt-2'} is damaged (ckpt-2.{file} " \
      + ("is missing" if how == "missing" else "does not read: ") in err, err
  assert "trying the previous one" in err


@pytest.mark.parametrize("change", ["shape", "missing object"])
def test_checkpoint_of_another_model_is_refused(tmp_path, change):
  _two_variables(tmp_path, [1, 2])
  w = tf.Variable(0.0)
  other = (dict(v=tf.Variable(tf.zeros([32])), w=w) if change == "shape"
           else dict(v=tf.Variable(tf.zeros([64])), w=w, u=tf.Variable(0.0)))
  ckpt = checkpoint.Checkpointer(str(tmp_path),
                                 model=tf.train.Checkpoint(**other))
  # Refused at the newest, not passed over for an older one.
  with pytest.raises(UserError, match=r"checkpoint .*ckpt-2 does not match "
                     r"this model/config \((ValueError|AssertionError): .*\); "
                     "use a new --workdir$"):
    ckpt.restore()
  assert checkpoint.damage(str(tmp_path / "ckpt-2")) is None


def test_every_checkpoint_damaged_is_one_line_and_changes_nothing(tmp_path):
  _two_variables(tmp_path, [1, 2])
  _damage(str(tmp_path / "ckpt-2.index"), "empty")
  _damage(str(tmp_path / "ckpt-1.data-00000-of-00001"), "random")
  before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
  _, _, ckpt = _two_variables(tmp_path, [])
  with pytest.raises(UserError) as e:
    ckpt.restore()
  assert str(e.value) == (
      f"every checkpoint in {tmp_path} is damaged (ckpt-2, ckpt-1: see the "
      "warnings above); nothing was changed; put back intact copies of their "
      "files, or use a new --workdir")
  assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# ------------------------- eval.py: the run's config, fallback (items 2, 4, 7)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
  """A trained toy workdir with checkpoints at steps 2 and 4."""
  wd = str(tmp_path_factory.mktemp("run") / "wd")
  config = _config(steps=4)
  train_main.train(config, wd)
  return wd, config


def test_eval_uses_the_runs_config_and_refuses_another(run):
  wd, config = run
  own, _ = evaluation.run_config(wd)
  assert workdir_lib.as_dict(own) == workdir_lib.as_dict(config)
  ok = _config(steps=100, eval_batch_size=50)  # eval / run-control keys
  assert evaluation.run_config(wd, ok) == (ok, {})
  other = _config()
  other.data.kwargs.seed = 7
  other.model.kwargs.dropout = 0.1
  with pytest.raises(UserError, match=r"differs from the one .* was trained "
                     r"with: data.kwargs.seed \(42 -> 7\), "
                     r"model.kwargs.dropout \(0.5 -> 0.1\); leave --config"):
    evaluation.run_config(wd, other)
  other.model.kwargs.dropout = 0.5
  with pytest.raises(UserError, match="pass --other_data"):
    evaluation.run_config(wd, other)
  _, diffs = evaluation.run_config(wd, other, other_data=True)
  assert diffs == {"data.kwargs.seed": (42, 7)}


def test_eval_falls_back_past_a_truncated_checkpoint(run, tmp_path):
  wd, config = run
  copy = str(tmp_path / "copy")
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.copytree(wd, copy)
  data = os.path.join(copy, "checkpoints", "ckpt-4.data-00000-of-00001")
  with open(data, "rb") as f:
    head = f.read(100)
  with open(data, "wb") as f:
    f.write(head)
  report = evaluation.evaluate_run(config, copy)
  assert report["step"] == 2


def test_delta_m_names_the_tasks_it_covers(run, tmp_path):
  wd, config = run
  base = tmp_path / "single_y1"
  base.mkdir()
  (base / "results_test.json").write_text(json.dumps(
      {"metrics": {"y1": {"mse": 2.0, "mae": 1.0, "loss": 2.0}}}))
  report = evaluation.evaluate_run(config, wd, single_task=[str(base)])
  assert report["delta_m_tasks"] == ["y1"]
  mse = report["metrics"]["y1"]["mse"]
  assert report["delta_m"] == pytest.approx(-100 * (mse - 2.0) / 2.0)
  text = evaluation.format_report(report)
  assert "Δm% vs single-task over y1 only (y2: no single-task result)" in text
  (base / "results_test.json").write_text('{"metrics": {"y1": ')  # cut short
  with pytest.raises(UserError, match="results_test.json is unreadable"):
    evaluation.evaluate_run(config, wd, single_task=[str(base)])


# --------------------------------------------------- scenes --out (item 5)


def test_scenes_refuses_a_non_empty_target_and_marks_completion(tmp_path,
                                                                capfd):
  out = str(tmp_path / "out")
  scenes.write_dataset(out, 2, 32, 64, layouts=("cityscapes",),
                       splits=(("train", 1.0),), farneback=False)
  root = os.path.join(out, "cityscapes")
  with open(os.path.join(root, marker.MARKER)) as f:
    assert json.load(f)["complete"] is True
  cityscapes.CityscapesSource(root)  # complete: read
  with pytest.raises(UserError, match="is not empty .* --overwrite"):
    scenes.write_dataset(out, 2, 32, 64, layouts=("cityscapes",),
                         farneback=False)
  assert scenes.main(["--out", out, "--num", "1", "--height", "32",
                      "--width", "64", "--layouts", "cityscapes",
                      "--no_farneback", "--workers", "1",
                      "--overwrite"]) == 0
  # A generation that did not finish (killed: the marker says incomplete).
  marker.write(root, False)
  with pytest.raises(UserError, match="generation did not finish"):
    cityscapes.CityscapesSource(root)
  f = tmp_path / "a_file"
  f.write_text("x")
  capfd.readouterr()
  assert scenes.main(["--out", str(f), "--num", "1"]) == 2
  assert capfd.readouterr().err.strip() == (
      f"error: scenes: --out {str(f)!r} is a file; give a directory")


def test_killed_generation_folders_are_cleaned(tmp_path):
  host = socket.gethostname().replace("-", "_")
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  gone = tmp_path / f".scenes-{host}-{dead.pid}-abc"
  live = tmp_path / f".scenes-{host}-{os.getpid()}-def"
  other_host = tmp_path / f".scenes-elsewhere-{dead.pid}-ghi"
  for d in (gone, live, other_host):
    d.mkdir()
  assert embedded.clean_leftovers(str(tmp_path)) == [str(gone)]
  assert live.exists() and other_host.exists() and not gone.exists()


def test_nan_in_kitti_poses_is_refused(tmp_path):
  p = tmp_path / "00.txt"
  row = "1 0 0 0 0 1 0 0 0 0 1 0\n"
  p.write_text(row + row.replace("1 0 0 0 0 1", "1 0 0 nan 0 1"))
  with pytest.raises(UserError, match=r"00.txt:2: a pose holds a non-finite"):
    kitti_odometry.read_poses(str(p))


# ----------------------------------- the CLI: second run, SIGTERM, eval


def _cli(*args, **kwargs):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, **kwargs)


def _errors(stderr):
  return [l for l in stderr.splitlines() if l.startswith("error:")]


def test_cli_lock_sigterm_and_eval_with_the_runs_config(tmp_path):
  wd = str(tmp_path / "wd")
  bad = tmp_path / "bad_config.py"
  bad.write_text("def get_config(:\n  pass\n")
  syntax = _cli("train.py", f"--config={bad}", f"--workdir={wd}_bad")
  first = _cli("train.py", "--config=configs/toy_two_task.py:runlocal",
               f"--workdir={wd}", "--config.steps=100000",
               "--config.log_every=1", "--config.checkpoint_every=1000")
  try:
    for line in first.stdout:
      if line.startswith("step ") and int(line.split()[1].split("/")[0]) >= 3:
        break
    second = _cli("train.py", "--config=configs/toy_two_task.py:runlocal",
                  f"--workdir={wd}")
    _, err = second.communicate(timeout=300)
    assert second.returncode == 2
    lines = _errors(err)
    assert len(lines) == 1 and f"in use by a live run (pid {first.pid} " \
        in lines[0], err[-2000:]
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=300)
  finally:
    if first.poll() is None:
      first.kill()
  assert first.returncode == -signal.SIGTERM, err[-2000:]
  saved = [l for l in err.splitlines() if l.startswith("saved the checkpoint")]
  assert len(saved) == 1, err[-2000:]
  step = int(saved[0].split()[5].rstrip(";"))
  assert step >= 3
  latest = checkpoint.Checkpointer(os.path.join(wd, "checkpoints"),
                                   read_only=True).latest
  assert latest.endswith(f"ckpt-{step}")
  # One step more (in process: a second checkpoint to fall back to), then
  # random bytes over the newest data file, as a disk fault would leave.
  resumed = toy_two_task.get_config("runlocal")
  resumed.update(dict(steps=step + 1, log_every=1, checkpoint_every=1000))
  train_main.train(resumed, wd)
  data = os.path.join(wd, "checkpoints", f"ckpt-{step + 1}")
  _damage(data + ".data-00000-of-00001", "random")
  warning = (f"warning: checkpoint {data} is damaged (ckpt-{step + 1}"
             ".data-00000-of-00001 does not read: ")
  # eval.py with no --config: the run's own (steps=100000 in config.json);
  # it falls back past the damage.
  ev = _cli("eval.py", f"--workdir={wd}", "--format=json", "--pictures=0")
  out, err = ev.communicate(timeout=300)
  assert ev.returncode == 0, err[-2000:]
  assert json.loads(out)["step"] == step and warning in err, err[-2000:]
  # train.py resumes from the intact one and saves over the damaged one.
  again = _cli("train.py", "--config=configs/toy_two_task.py:runlocal",
               f"--workdir={wd}", f"--config.steps={step + 2}",
               "--config.log_every=1", "--config.checkpoint_every=1")
  out, err = again.communicate(timeout=300)
  assert again.returncode == 0 and not _errors(err), err[-2000:]
  intact = os.path.join(wd, "checkpoints", f"ckpt-{step}")
  assert f"resumed from {intact}\n" in out and warning in err, err[-2000:]
  assert checkpoint.damage(data) is None  # whole again, iterator state too
  _, err = syntax.communicate(timeout=300)
  assert syntax.returncode == 2 and _errors(err) == [
      f"error: config file {bad}, line 1: syntax error: invalid syntax"], err
  assert not os.path.exists(f"{wd}_bad")


def test_export_to_a_full_disk_is_one_line_and_leaves_nothing(tmp_path,
                                                              monkeypatch):
  from tfmtl import export  # pylint: disable=g-import-not-at-top
  from tfmtl.models.hard_sharing import HardSharingMLP  # pylint: disable=g-import-not-at-top
  model = HardSharingMLP(["a"], trunk_units=(2,), tower_units=())
  model(tf.zeros([1, 3]))

  def full(src, dst):  # the export's last step: rename into place
    del src, dst
    raise OSError(28, "No space left on device")
  monkeypatch.setattr(os, "replace", full)
  with pytest.raises(UserError, match=r"could not write the SavedModel to "
                     r".*No space left on device.*nothing was exported"):
    export.export_saved_model(model, tf.TensorSpec([None, 3]),
                              str(tmp_path / "export"))
  assert os.listdir(tmp_path) == []


def test_unwritable_data_dir_is_one_line(tmp_path):
  (tmp_path / "file").write_text("x")
  with pytest.raises(UserError, match="cannot write the generated dataset "
                     "under .*TFMTL_DATA_DIR"):
    embedded.ensure("cityscapes", 2, 32, 64, 0,
                    root=str(tmp_path / "file" / "data" / "scenes"))


def test_corrupt_png_data_with_an_intact_end_is_named(tmp_path):
  from tfmtl.data import pipeline  # pylint: disable=g-import-not-at-top
  scenes.write_dataset(str(tmp_path), 4, 32, 64, layouts=("cityscapes",),
                       splits=(("train", 1.0),), farneback=False)
  root = os.path.join(str(tmp_path), "cityscapes")
  bad = os.path.join(root, "leftImg8bit", "train", "synth00",
                     "synth00_000002_000019_leftImg8bit.png")
  data = bytearray(open(bad, "rb").read())
  start = data.find(b"IDAT") + 8
  data[start:start + 32] = bytes(b ^ 0x55 for b in data[start:start + 32])
  open(bad, "wb").write(bytes(data))  # header and IEND untouched
  source = cityscapes.CityscapesSource(root, augment=False)
  with pytest.raises(tf.errors.InvalidArgumentError) as e:
    for _ in source.dataset("train", 2):
      pass
  error = pipeline.explain_decode_error(source, e.value)
  assert str(error) == (f"{bad}: corrupt PNG data (it does not decode); "
                        "re-extract or regenerate it")


def test_an_exception_of_the_config_file_is_located(tmp_path):
  from tfmtl import cli  # pylint: disable=g-import-not-at-top
  path = tmp_path / "raising.py"
  path.write_text("def get_config():\n  raise RuntimeError('boom')\n")
  scope = {}
  exec(compile(path.read_text(), str(path), "exec"), scope)  # pylint: disable=exec-used
  with pytest.raises(RuntimeError) as e:
    scope["get_config"]()
  argv = ["train.py", f"--config={path}:runlocal", "--workdir=w"]
  frame = cli._config_frame(e.value, cli._config_path(argv))  # pylint: disable=protected-access
  assert (frame.filename, frame.lineno, frame.name) == (
      str(path), 2, "get_config")
  other = ["train.py", f"--config={tmp_path / 'other.py'}"]
  assert cli._config_frame(e.value, cli._config_path(other)) is None  # pylint: disable=protected-access
