"""A user's day, at tiny sizes: their own model file with freely named
classification, binary and regression tasks and one partly labelled task,

- through `Trainer.fit` with TensorBoard, ModelCheckpoint (.keras, best
  only), EarlyStopping and BackupAndRestore, then export, reload and serve
  in a fresh process;
- through train.py (epochs, a data function returning batched datasets) and
  eval.py with no eval_metrics: accuracy for each classification task, AUC
  for the binary ones, MAE / RMSE for the regression, no TensorFlow start-up
  noise on stderr.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import tensorflow as tf

import tfmtl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODEL = '''
import keras

def build(task_names=None):
  image = keras.Input((8, 8, 1), name="image")
  h = keras.layers.Conv2D(4, 3, activation="relu")(image)
  h = keras.layers.Dense(16, activation="relu")(keras.layers.Flatten()(h))
  return keras.Model(image, {"digit": keras.layers.Dense(10)(h),
                             "parity": keras.layers.Dense(1)(h),
                             "gt4": keras.layers.Dense(1)(h),
                             "size": keras.layers.Dense(1)(h)})
'''

DATA = '''
import numpy as np
import tensorflow as tf

def arrays(split, n=96):
  rng = np.random.default_rng({"train": 0, "test": 1}[split])
  digit = rng.integers(0, 10, n).astype("int32")
  x = rng.normal(size=(n, 8, 8, 1)).astype("float32")
  x[:, 0, 0, 0] = digit  # learnable
  gt4 = (digit > 4).astype("float32")[:, None]
  if split == "train":  # labelled on 30% of the images
    gt4[rng.random(n) > 0.3] = np.nan
  return x, {"digit": digit, "parity": (digit % 2).astype("float32")[:, None],
             "gt4": gt4, "size": x.mean(axis=(1, 2))}

def make():
  # Batched, as many users write it; train.py unbatches and rebatches.
  return {s: tf.data.Dataset.from_tensor_slices(arrays(s)).batch(10)
          for s in ("train", "test")}
'''

CONFIG = '''
import ml_collections
from configs import common

def get_config(arg=""):
  c = common.base_config()
  c.data = ml_collections.ConfigDict(dict(name="userdata:make", kwargs={}))
  c.model = ml_collections.ConfigDict(dict(name="usermodel:build", kwargs={}))
  c.tasks = ml_collections.ConfigDict(dict(
      digit=dict(loss="sparse_ce"), parity=dict(loss="bce"),
      gt4=dict(loss="bce", missing="nan"), size=dict(loss="huber")))
  c.method = "uncertainty"
  c.optimizer.learning_rate = 0.01
  c.batch_size = 16
  c.epochs = 2
  c.log_every = 6
  c.checkpoint_every = 6
  c.eval_batch_size = 32
  return c
'''


def _project(tmp_path):
  for name, text in (("usermodel.py", MODEL), ("userdata.py", DATA),
                     ("userconfig.py", CONFIG)):
    (tmp_path / name).write_text(textwrap.dedent(text))
  sys.path.insert(0, str(tmp_path))


def test_trainer_fit_with_callbacks_then_export_and_serve_elsewhere(tmp_path):
  _project(tmp_path)
  import usermodel  # pylint: disable=g-import-not-at-top,import-error
  import userdata  # pylint: disable=g-import-not-at-top,import-error
  model = usermodel.build()
  x, y = userdata.arrays("train")
  xt, yt = userdata.arrays("test")
  train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
  test = tf.data.Dataset.from_tensor_slices((xt, yt)).batch(32)
  trainer = tfmtl.Trainer(model, {
      "digit": "sparse_ce", "parity": "bce", "size": "huber",
      "gt4": tfmtl.Task("gt4", "bce", missing="nan")}, "uncertainty")
  trainer.compile(optimizer=keras.optimizers.Adam(0.01),
                  metrics={"digit": ["accuracy"]})
  best = str(tmp_path / "best.keras")
  history = trainer.fit(train, epochs=4, validation_data=test, verbose=0,
                        callbacks=[
                            keras.callbacks.TensorBoard(str(tmp_path / "tb")),
                            keras.callbacks.ModelCheckpoint(
                                best, save_best_only=True),
                            keras.callbacks.EarlyStopping(patience=1),
                            keras.callbacks.BackupAndRestore(
                                str(tmp_path / "backup"))])
  assert {"digit_accuracy", "val_digit_accuracy", "gt4_loss",
          "sigma2/gt4"} <= set(history.history)
  # NaN labels of gt4 are unlabelled, not faults: no update was skipped.
  assert history.history["nonfinite_skips"][-1] == 0
  assert np.all(np.isfinite(history.history["gt4_loss"]))
  assert os.listdir(tmp_path / "tb")
  export = str(tmp_path / "export")
  trainer.export(export)
  np.save(tmp_path / "x.npy", xt[:5])
  now = model.predict(xt[:5], verbose=0)
  np.save(tmp_path / "now.npy", np.concatenate([now[k] for k in sorted(now)],
                                               axis=1))
  served = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
      import keras, numpy as np, tensorflow as tf
      x = np.load({str(tmp_path / 'x.npy')!r})
      sm = tf.saved_model.load({export!r})
      out = sm.signatures["serve"](image=tf.constant(x))
      got = np.concatenate([out[k].numpy() for k in sorted(out)], axis=1)
      want = np.load({str(tmp_path / 'now.npy')!r})
      assert np.abs(got - want).max() < 1e-5, np.abs(got - want).max()
      best = keras.saving.load_model({best!r})
      assert sorted(best.predict(x, verbose=0)) == sorted(out)
      print("served")
      """)], capture_output=True, text=True, cwd=ROOT)
  assert "served" in served.stdout, served.stderr[-2000:]


def test_train_and_eval_on_the_users_own_module(tmp_path):
  _project(tmp_path)
  env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
  work = str(tmp_path / "run")
  cmd = [sys.executable, os.path.join(ROOT, "train.py"),
         f"--config={tmp_path / 'userconfig.py'}", f"--workdir={work}"]
  trained = subprocess.run(cmd, capture_output=True, text=True, env=env,
                           cwd=ROOT)
  assert trained.returncode == 0, trained.stderr[-3000:]
  out = trained.stdout
  # 96 examples / batch 16 = 6 steps an epoch, 2 epochs.
  assert "epochs: 2 × 6 steps" in out and "step 12/12" in out
  assert ("tfmtl: uncertainty — loss level; " in out and
          "4 tasks: digit (classification, 10 classes), gt4 (binary), "
          "parity (binary), size (regression); uncertainty classification "
          "form: digit, gt4, parity; regression form: size" in out), out
  for noise in ("cuInit", "absl::InitializeLog", "oneDNN", "cuda drivers"):
    assert noise not in trained.stderr, trained.stderr
  evaluated = subprocess.run(
      [sys.executable, os.path.join(ROOT, "eval.py"), f"--workdir={work}",
       "--format=json", "--pictures=0"], capture_output=True, text=True,
      env=env, cwd=ROOT)
  assert evaluated.returncode == 0, evaluated.stderr[-3000:]
  report = json.loads(evaluated.stdout)
  assert report["kinds"] == {"digit": "classification", "gt4": "binary",
                             "parity": "binary", "size": "regression"}
  m = report["metrics"]
  assert {"accuracy", "top5_accuracy"} <= set(m["digit"])
  assert {"accuracy", "auc"} <= set(m["gt4"]) and "auc" in m["parity"]
  assert {"mae", "rmse"} <= set(m["size"])
  assert m["digit"]["top5_accuracy"] >= m["digit"]["accuracy"]
  assert report["headline"]["digit"] == {"accuracy": m["digit"]["accuracy"]}
  assert not evaluated.stderr.strip(), evaluated.stderr
