"""User code everywhere: the README's own-model snippet, the CLI opened to
`module:function` models / data / methods, and method kwargs from the
command line for methods the config doesn't list."""

import os
import re
import subprocess
import sys

import ml_collections
import numpy as np
import pytest

from tfmtl import data, experiment, losses, methods, models
from tfmtl.errors import UserError
from tfmtl.registry import import_object

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_snippet():
  text = open(os.path.join(ROOT, "README.md")).read()
  section = text.split("### Bring your own model", 1)[1]
  return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_bring_your_own_model_runs_as_written(tmp_path, monkeypatch,
                                                     capsys):
  monkeypatch.chdir(tmp_path)  # it writes runs/readme/
  scope = {}
  exec(compile(readme_snippet(), "README.md", "exec"), scope)  # pylint: disable=exec-used
  history = scope["history"].history
  assert len(history["loss"]) == 3 and history["loss"][-1] < history["loss"][0]
  assert "kind_accuracy" in history
  assert sorted(scope["predictions"]) == ["big", "kind", "size"]
  np.testing.assert_allclose(
      scope["predictions"]["kind"],
      scope["model"].predict(scope["xs"][:4], verbose=0)["kind"], atol=1e-6)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  served = tf.saved_model.load("runs/readme/export").signatures["serve"](
      features=tf.constant(scope["xs"][:4]))
  assert sorted(served) == ["big", "kind", "size"]
  assert "pcgrad: Projecting conflicting gradients" in capsys.readouterr().out


def test_open_overrides_create_and_type_keys():
  c = ml_collections.ConfigDict(dict(
      method_kwargs=dict(dwa=dict(steps_per_epoch=10)),
      model=dict(name="m", kwargs=dict(width=0.5, deep=False)),
      data=dict(name="d", kwargs={})))
  experiment.apply_open_overrides(c, [
      ("method_kwargs.cagrad", "c", "0.25"),
      ("method_kwargs.dwa", "steps_per_epoch", "7"),
      ("model.kwargs", "width", "2"),
      ("model.kwargs", "deep", "true"),
      ("data.kwargs", "root", "/x/y"),
      ("method_kwargs.rlw", "seeds", "[1, 2]")])
  assert c.method_kwargs.cagrad.c == 0.25
  assert c.method_kwargs.dwa.steps_per_epoch == 7
  assert c.model.kwargs.width == 2.0 and c.model.kwargs.deep is True
  assert c.data.kwargs.root == "/x/y"
  assert list(c.method_kwargs.rlw.seeds) == [1, 2]
  with pytest.raises(UserError, match="model.kwargs.deep: expected a boolean"):
    experiment.apply_open_overrides(c, [("model.kwargs", "deep", "maybe")])


def test_user_code_names_resolve_or_say_why():
  assert import_object("tfmtl.losses:mse") is losses.mse
  assert losses.get("tfmtl.losses:l1") is losses.l1
  assert type(methods.get("tfmtl.aggregation:PCGrad")).__name__ == "PCGrad"
  with pytest.raises(UserError, match="cannot import module 'no_such_pkg'"):
    models.get("no_such_pkg.models:build")
  with pytest.raises(UserError, match="has no attribute 'nope'"):
    data.get("tfmtl.data.toy:nope")
  with pytest.raises(UserError, match="neither a tfmtl.weighting"):
    methods.get("collections:OrderedDict")


def test_example_project_trains_with_fit():
  import keras  # pylint: disable=g-import-not-at-top
  import tfmtl  # pylint: disable=g-import-not-at-top
  from examples.scenes_mobilenet import data as user_data  # pylint: disable=g-import-not-at-top
  from examples.scenes_mobilenet import model as user_model  # pylint: disable=g-import-not-at-top
  splits = user_data.rgb_scenes(num=40, height=64, width=128)
  model = user_model.build(height=64, width=128, alpha=0.35)
  trainer = tfmtl.Trainer(
      model, {"depth": "masked_l1", "semantic": "sparse_ce",
              "motion": "sparse_ce"}, "mgda_ub")
  trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
  history = trainer.fit(splits["train"].batch(4).take(2), epochs=1,
                        verbose=0)
  assert np.isfinite(history.history["loss"][0])
  split = trainer._engine.split  # pylint: disable=protected-access
  backbone = model.get_layer(index=1)
  assert {id(v) for v in split.shared_variables} == {
      id(v) for v in backbone.trainable_variables}


def test_example_project_trains_through_the_cli(tmp_path):
  """The README's CLI form, with a method and kwargs the config doesn't
  list; the run records the kwargs it used."""
  workdir = str(tmp_path / "run")
  result = subprocess.run(
      [sys.executable, "train.py",
       "--config=examples/scenes_mobilenet/config.py:runlocal",
       f"--workdir={workdir}", "--config.method=cagrad",
       "--config.method_kwargs.cagrad.c=0.25", "--config.steps=2",
       "--config.model.kwargs.alpha=0.35"],
      cwd=ROOT, capture_output=True, text=True, timeout=600,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert result.returncode == 0, result.stderr[-2000:]
  assert "final test metrics after 2 steps" in result.stdout
  saved = open(os.path.join(workdir, "config.json")).read()
  assert re.search(r'"cagrad":\s*\{\s*"c":\s*0.25', saved), saved[:500]
