"""Every config key and every flag with an impossible value (issue 23, item
5; docs/RELIABILITY.md "Issue 23").

The config cases run through `experiment.preflight` (config_check, before
anything is built); the ones that need the data or the model through
`train.train`, checking that no workdir is left; the command lines that
matter as command lines in one subprocess test.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import train as train_main
from configs import toy_two_task
from tfmtl import config_check, experiment
from tfmtl.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(**overrides):
  c = toy_two_task.get_config("runlocal")
  c.update(dict(steps=2, log_every=1, checkpoint_every=2, eval_batch_size=500))
  c.data.kwargs.n = 1000
  for key, value in overrides.items():
    node, *path = key.split(".")
    if not path:
      c[key] = value
      continue
    parent = c[node]
    for p in path[:-1]:
      parent = parent[p]
    parent[path[-1]] = value
  return c


def _set(c, key, value):
  """`key` (dotted) set to `value`, whatever type the config had there."""
  *path, leaf = key.split(".")
  node = c
  for p in path:
    node = node[p]
  with c.unlocked():
    if leaf in node:
      del node[leaf]
    node[leaf] = value
  return c


CASES = [
    # key, value, what the one line says
    ("seed", -1, r"config.seed = -1 must be >= 0"),
    ("seed", 1.5, r"config.seed = 1.5 must be a whole number"),
    ("seed", "a", r"config.seed = 'a' must be a whole number"),
    ("seed", 2 ** 32, r"config.seed = 4294967296 must be < 2\*\*32"),
    ("data.name", "", r"config.data.name = '': name a registered data"),
    ("data.kwargs", "n=5", r"config.data.kwargs = 'n=5' must be a dict"),
    ("model.name", 3, r"config.model.name = 3: name a registered model"),
    ("tasks", {}, r"config.tasks is empty"),
    ("tasks.y1", 3, r"config.tasks.y1 = 3 must be dict\(loss=..."),
    ("tasks.y1.loss", "nope", r"config.tasks.y1.loss: unknown loss 'nope'"),
    ("tasks.y1.weight", -1.0, r"task 'y1': weight -1.0 must be a finite"),
    ("tasks.y1.weight", "abc", r"task 'y1': weight 'abc' must be a finite"),
    ("tasks.y1.role", "boss", r"task 'y1': role 'boss' is not one of"),
    ("tasks.y1.missing", "zero", r"task 'y1': missing='zero'; use 'nan'"),
    ("method", "nope", r"unknown method 'nope'; known:"),
    ("method", "fixed+nope", r"'nope' in 'fixed\+nope' is not an "
                           r"aggregation method; known:"),
    ("method", "", r"config.method is empty"),
    ("method_kwargs.nope", {"x": 1}, r"config.method_kwargs.nope: there is "
                                     r"no method 'nope'"),
    ("optimizer", "adam", r"config.optimizer = 'adam' must be dict"),
    ("optimizer.name", "rmsprop", r"config.optimizer.name = 'rmsprop' is not "
                                  r"a known optimizer; known: adam, adamw, "
                                  r"sgd"),
    ("optimizer.learning_rate", 0.0, r"learning_rate = 0.0 must be a positive"),
    ("optimizer.learning_rate", -1.0, r"learning_rate = -1.0 must be a "
                                      r"positive"),
    ("optimizer.learning_rate", float("inf"), r"learning_rate = inf must be "
                                              r"a positive finite"),
    ("optimizer.learning_rate", float("nan"), r"learning_rate = nan must be "
                                              r"a positive finite"),
    ("optimizer.learning_rate", "abc", r"learning_rate = 'abc' must be a "
                                       r"number or a keras "
                                       r"LearningRateSchedule"),
    ("optimizer.momentum", 0.9, r"config.optimizer: adam takes no argument "
                                r"'momentum' \(did you mean 'ema_momentum'\?"
                                r"\); it takes: amsgrad, beta_1"),
    ("optimizer.clipnorm", 1.0, r"config.optimizer.clipnorm: clip with "
                                r"config.clip_global_norm"),
    ("batch_size", 0, r"config.batch_size = 0 must be > 0"),
    ("batch_size", 1.5, r"config.batch_size = 1.5 must be a whole number"),
    ("batch_size", True, r"config.batch_size = True must be a whole number"),
    ("steps", -1, r"config.steps = -1 must be >= 0"),
    ("steps", 2.5, r"config.steps = 2.5 must be a whole number"),
    ("epochs", -1, r"config.epochs = -1 must be >= 0"),
    ("clip_global_norm", -1.0, r"config.clip_global_norm = -1.0 must be >= 0"),
    ("clip_global_norm", float("nan"), r"clip_global_norm = nan must be >= 0"),
    ("clip_global_norm", "abc", r"clip_global_norm = 'abc' must be a number"),
    ("clip_by_value", {"(": 1.0}, r"config.clip_by_value: '\(' is not a "
                                  r"regular expression"),
    ("clip_by_value", {"shared": 0.0}, r"config.clip_by_value\['shared'\] = "
                                       r"0.0 must be a positive number"),
    ("per_sample_mode", "nope", r"config.per_sample_mode = 'nope' is not one "
                                r"of independent, coupled"),
    ("strategy", "nope", r"config.strategy: unknown strategy 'nope'; "
                         r"known: default"),
    ("num_devices", -1, r"config.num_devices = -1 must be >= 0"),
    ("tpu_address", 3, r"config.tpu_address = 3 must be a string"),
    ("jit_compile", "yes", r"config.jit_compile = 'yes' must be True, "
                           r"False or 'auto'"),
    ("jit_compile", 1, r"config.jit_compile = 1 must be True, False or "
                       r"'auto'"),
    ("steps_per_loop", 0, r"config.steps_per_loop = 0 must be > 0"),
    ("steps_per_loop", -3, r"config.steps_per_loop = -3 must be > 0"),
    ("deterministic", "no", r"config.deterministic = 'no' must be True or "
                            r"False"),
    ("mixed_precision", "float8", r"config.mixed_precision = 'float8' is not "
                                  r"one of '', 'float32'"),
    ("max_nonfinite_skips", 0, r"config.max_nonfinite_skips = 0 must be > 0"),
    ("max_nonfinite_skips", -1, r"config.max_nonfinite_skips = -1 must be > "
                                r"0"),
    ("show_method_logs", "x", r"config.show_method_logs = 'x' must be True"),
    ("log_every", 0, r"config.log_every = 0 must be > 0"),
    ("checkpoint_every", 0, r"config.checkpoint_every = 0 must be > 0"),
    ("keep_checkpoints", 0, r"config.keep_checkpoints = 0 must be > 0"),
    ("eval_split", "", r"config.eval_split is empty"),
    ("eval_batch_size", 0, r"config.eval_batch_size = 0 must be > 0"),
    ("eval_metrics", {"y1": "nope"}, r"config.eval_metrics.y1: 'nope' is not "
                                     r"a kind of task; known:"),
    ("eval_metrics", "accuracy", r"config.eval_metrics = 'accuracy' must be "
                                 r"a dict"),
    ("eval_depth_range", (5.0, 1.0), r"config.eval_depth_range = \(5.0, "
                                     r"1.0\) must have 0 <= min < max"),
    ("eval_depth_range", (-1.0, 3.0), r"0 <= min < max"),
    ("eval_depth_range", (1.0,), r"config.eval_depth_range = \(1.0,\) must "
                                 r"be \(min, max\)"),
    ("eval_depth_range", "far", r"must be \(min, max\) in metres"),
]


@pytest.mark.parametrize("key, value, match", CASES,
                         ids=[f"{k}={v!r}" for k, v, _ in CASES])
def test_an_impossible_setting_is_refused_before_anything_is_built(
    key, value, match):
  c = _set(_config(), key, value)
  with pytest.raises(UserError, match=match) as e:
    experiment.preflight(c)
  assert "\n" not in str(e.value)


def test_every_shipped_config_passes_the_checks():
  import glob  # pylint: disable=g-import-not-at-top
  import importlib.util  # pylint: disable=g-import-not-at-top
  paths = sorted(glob.glob(os.path.join(ROOT, "configs", "*.py")) + glob.glob(
      os.path.join(ROOT, "examples", "*", "config.py")))
  for path in paths:
    if os.path.basename(path) in ("common.py", "__init__.py"):
      continue
    spec = importlib.util.spec_from_file_location("config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for arg in ("", "runlocal"):
      experiment.preflight(module.get_config(arg))


# Cases that need the data or the model: refused by experiment.build, still
# before the workdir is touched.
BUILD_CASES = [
    (dict(batch_size=100000), r"config.batch_size = 100000 is larger than "
                              r"the 800 train examples of data source "
                              r"'correlated_regression'; lower"),
    (dict(eval_split="nope"), r"unknown split 'nope'; known: train, val, "
                              r"test"),
    ({"method": "gradnorm", "method_kwargs.gradnorm.alpha": -1.0},
     r"gradnorm: alpha = -1.0 must be float >= 0"),
    ({"method": "gradnorm", "method_kwargs.gradnorm.bogus": 1},
     r"gradnorm has no option 'bogus'; its options: alpha"),
    ({"model.kwargs.trunk_units": [0]}, r"model 'hard_sharing' can't be "
                                        r"built: ValueError: .*units"),
    ({"epochs": 1, "batch_size": 100000}, r"config.epochs: the train split "
                                          r"has 800 examples, fewer than one "
                                          r"batch"),
]


@pytest.mark.parametrize("overrides, match", BUILD_CASES,
                         ids=[str(o) for o, _ in BUILD_CASES])
def test_a_setting_the_data_or_model_refuses_writes_nothing(
    tmp_path, overrides, match):
  wd = tmp_path / "wd"
  with pytest.raises(UserError, match=match) as e:
    train_main.train(_config(**overrides), str(wd))
  assert "\n" not in str(e.value)
  assert not wd.exists()


def test_a_huge_learning_rate_is_warned_about_then_its_metrics(tmp_path,
                                                               capfd):
  c = _config()
  c.optimizer.learning_rate = 1e12
  c.tpu_address = "grpc://10.0.0.2:8470"
  assert [w.split(" = ")[0] for w in config_check.warnings(c)] == [
      "config.optimizer.learning_rate", "config.tpu_address"]
  results = train_main.train(c, str(tmp_path / "wd"))
  err = capfd.readouterr().err
  assert "warning: config.optimizer.learning_rate = 1e+12 is far above the " \
         "usual range" in err
  assert "is ignored: the strategy is 'default', not 'tpu'" in err
  if not all(np.isfinite(v) for m in results.values() for v in m.values()):
    assert "warning: final metrics are not finite (" in err
    assert "the model diverged; lower the learning rate" in err


# ------------------------------------------ the command lines themselves


def _errors(stderr):
  return [l for l in stderr.splitlines() if l.startswith("error:")]


def test_impossible_flags_on_the_command_line_are_one_line(tmp_path):
  """train.py, eval.py and the tools, started together (each a process)."""
  toy = ["train.py", "--config=configs/toy_two_task.py:runlocal",
         "--config.steps=2", "--config.checkpoint_every=2"]
  wd = str(tmp_path / "wd")
  (tmp_path / "run").mkdir()
  cases = {
      "unknown task": (toy + [f"--workdir={wd}", "--config.tasks.y3.loss=mse"],
                       "error: --config.tasks.y3.loss: config.tasks has no "
                       "task 'y3' (its tasks: y1, y2); a task is added in the "
                       "config file"),
      "optimizer kwarg typed": (
          toy + [f"--workdir={wd}", "--config.optimizer.learning_rate=abc"],
          "error: --config.optimizer.learning_rate: expected a number, got "
          "'abc'"),
      "negative seed": (toy + [f"--workdir={wd}", "--config.seed=-1"],
                        "error: config.seed = -1 must be >= 0"),
      "stray argument": (toy + [f"--workdir={wd}", "extra"],
                         "error: unexpected argument(s) ['extra']"),
      "unknown key": (toy + [f"--workdir={wd}",
                             "--config.clip_by_value.shared=1"],
                      "error: --config.clip_by_value.shared: the config has "
                      "no key 'clip_by_value.shared'"),
      "eval.py negative pictures": (
          ["eval.py", f"--workdir={wd}", "--pictures=-1"],
          "error: flag --pictures=-1: "),
      "compare.py missing workdir": (
          ["tools/compare.py", str(tmp_path / "nope")],
          f"error: workdir {str(tmp_path / 'nope')!r} does not exist"),
      "toy2d.py png folder": (
          ["tools/toy2d.py", "--methods=sum", "--iterations=2",
           f"--png={tmp_path}/no/x.png"], "error: --png="),
      "results.py seeds": (["tools/results.py", "--seeds=a", "--steps=1",
                            f"--out_dir={tmp_path}/res"],
                           "error: --seeds: 'a' is not a seed"),
      "gate_curves.py regex": (
          ["tools/gate_curves.py", str(tmp_path / "run"), "--layers=("],
          "error: --layers='(' is not a regular expression"),
      "user loss raises": (
          toy + [f"--workdir={wd}",
                 "--config.tasks.y1.loss=tests.user_functions:bad_loss"],
          "error: loss 'tests.user_functions:bad_loss' of task 'y1' "
          "raised ValueError: labels must be positive"),
  }
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  procs = {name: subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
           for name, (argv, _) in cases.items()}
  for name, proc in procs.items():
    _, err = proc.communicate(timeout=600)
    expected = cases[name][1]
    lines = _errors(err)
    assert proc.returncode == 2, (name, err[-2000:])
    assert len(lines) == 1 and lines[0].startswith(expected), (name, err)
    if name == "user loss raises":  # the user's frames, then the line
      assert "user_functions.py" in err and err.rstrip().endswith(
          lines[0]), err
    else:
      assert "Traceback" not in err, (name, err)
  assert not os.path.exists(wd)
  assert os.listdir(tmp_path) == ["run"]
