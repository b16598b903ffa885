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


USER_METHOD = '''
import tensorflow as tf
from tfmtl.aggregation import Aggregator


class InverseLoss(Aggregator):
  """d = sum_t g_t / L_t (the gradient of sum_t log L_t); keeps the step."""

  needs = frozenset({"losses", "step"})

  def build(self, tasks, num_params=None, shared_variables=None):
    super().build(tasks, num_params, shared_variables)
    self.last_step = tf.Variable(-1, dtype=tf.int64, trainable=False)

  def __call__(self, J, losses=None, step=None, **extra):
    self.last_step.assign(tf.cast(step, tf.int64))
    return tf.linalg.matvec(J, 1.0 / losses, transpose_a=True)
'''


def test_a_users_gradient_method_trains_everywhere_without_engine_changes(
    tmp_path, monkeypatch):
  """A gradient method of the user's (`module:Class`, needing the losses
  and the step) through make_train_step (its exact update), Trainer.fit and
  train.py."""
  import keras  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tfmtl  # pylint: disable=g-import-not-at-top
  from tfmtl.engine import make_train_step  # pylint: disable=g-import-not-at-top
  from tests.helpers import tiny_model  # pylint: disable=g-import-not-at-top
  (tmp_path / "usermethods.py").write_text(USER_METHOD)
  monkeypatch.syspath_prepend(str(tmp_path))
  rng = np.random.default_rng(0)
  x = rng.normal(size=(8, 3)).astype(np.float32)
  y = {"a": x[:, :1] * 2, "b": x[:, 1:2] - 1.0}
  tasks = [tfmtl.Task("a", "mse"), tfmtl.Task("b", "mse")]
  model, ref = tiny_model(), tiny_model()
  method = methods.get("usermethods:InverseLoss")
  step = make_train_step(model, tasks, method, keras.optimizers.SGD(0.1))
  step((x, y))
  with tf.GradientTape() as tape:
    out = ref(x, training=True)
    losses = [tf.reduce_mean(tf.square(out[t] - y[t])) for t in "ab"]
    total = sum(tf.stop_gradient(1.0 / l) * l for l in losses)
  # Σ_t g_t / L_t on the shared layer; each head its own task's gradient.
  shared = ref.layers[1].trainable_variables
  want = dict(zip(map(id, shared), tape.gradient(total, shared)))
  with tf.GradientTape(persistent=True) as tape:
    out = ref(x, training=True)
    losses = [tf.reduce_mean(tf.square(out[t] - y[t])) for t in "ab"]
  for t, loss in zip("ab", losses):
    head = ref.get_layer(index=2 + "ab".index(t)).trainable_variables
    want.update(zip(map(id, head), tape.gradient(loss, head)))
  for got, v in zip(model.trainable_variables, ref.trainable_variables):
    np.testing.assert_allclose(got, np.asarray(v) - 0.1 * np.asarray(
        want[id(v)]), rtol=1e-5, atol=1e-6)
  assert int(method.last_step.numpy()) == 0

  trainer = tfmtl.Trainer(tiny_model(), {"a": "mse", "b": "mse"},
                          "usermethods:InverseLoss")
  trainer.compile(optimizer="sgd")
  ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
  trainer.fit(ds, epochs=2, verbose=0)
  assert int(trainer.method.last_step.numpy()) == 3  # 4 steps: 0 .. 3

  result = subprocess.run(
      [sys.executable, "train.py", "--config=configs/toy_two_task.py:runlocal",
       f"--workdir={tmp_path / 'run'}", "--config.steps=3",
       "--config.method=usermethods:InverseLoss"],
      cwd=ROOT, capture_output=True, text=True, timeout=600,
      env=dict(os.environ, PYTHONPATH=str(tmp_path)))
  assert result.returncode == 0, result.stderr[-2000:]
  assert ("tfmtl: usermethods:InverseLoss — gradient level" in
          result.stdout), result.stdout
  assert "final test metrics after 3 steps" in result.stdout
