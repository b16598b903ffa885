"""The default job end to end on tiny generated scenes: train → eval (metrics,
GMACs, pictures, results file) → export → serve in a fresh process."""

import json
import os
import subprocess
import sys

import numpy as np

from tfmtl import evaluation
import train as train_main
from configs import demo
from tfmtl import checkpoint, distribute, experiment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(tmp_path):
  c = demo.get_config("runlocal")
  c.data.kwargs = dict(height=32, width=64, num=10, workers=1,
                       root=str(tmp_path / "scenes"))
  c.model.kwargs.width = 0.25
  c.batch_size = 2
  c.eval_batch_size = 2
  c.steps = 2
  c.checkpoint_every = 2
  c.log_every = 1
  return c


def test_train_eval_export_serve(tmp_path):
  config = _config(tmp_path)
  wd, export = str(tmp_path / "wd"), str(tmp_path / "export")
  train_main.train(config, wd)
  report = evaluation.evaluate_run(config, wd, export_dir=export,
                                   num_pictures=2, export_logits=True)

  # Metrics of every task, the network's cost, and the results file.
  assert set(report["metrics"]) == {"depth", "semantic", "motion"}
  assert 0.0 <= report["metrics"]["semantic"]["miou"] <= 1.0
  assert np.isfinite(report["metrics"]["depth"]["abs_rel"])
  assert report["gmacs"] > 0 and report["params"] > 0
  with open(os.path.join(wd, "results_test.json")) as f:
    assert json.load(f)["step"] == 2
  # Pictures on disk and in TensorBoard.
  assert sorted(os.path.basename(p) for p in report["pictures"]) == [
      "test_depth.png", "test_motion.png", "test_semantic.png"]
  from tensorboard.backend.event_processing import event_accumulator
  events = event_accumulator.EventAccumulator(os.path.join(wd, "train"))
  events.Reload()
  assert "pictures/semantic" in events.Tags()["tensors"]

  # The SavedModel, served by a fresh process on the uint8 image (and the
  # float flow), answers what the restored Keras model answers on that
  # image scaled to [0, 1].
  exp = experiment.build(config, distribute.make_strategy("default"),
                         with_step=False)
  ckpt = checkpoint.Checkpointer(os.path.join(wd, "checkpoints"),
                                 model=exp.model)
  ckpt.checkpoint.restore(ckpt.latest).expect_partial()
  x, _ = next(iter(exp.source.dataset("test", 1)))
  x = {k: v.numpy() for k, v in x.items()}
  x["image"] = np.round(x["image"] * 255).astype(np.uint8)
  np.savez(tmp_path / "x.npz", **x)
  code = (
      "import numpy as np, tensorflow as tf\n"
      f"x = dict(np.load({str(tmp_path / 'x.npz')!r}))\n"
      f"m = tf.saved_model.load({export!r})\n"
      "out = m.signatures['serve'](**{k: tf.constant(v) for k, v in x.items()})\n"
      f"np.savez({str(tmp_path / 'y.npz')!r}, **{{k: v.numpy() for k, v in out.items()}})\n")
  proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, text=True,
                        capture_output=True, timeout=300,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert proc.returncode == 0, proc.stderr[-2000:]
  served = np.load(tmp_path / "y.npz")
  expected = exp.model(dict(x, image=x["image"].astype(np.float32) / 255),
                       training=False)
  for task in ("depth", "semantic", "motion"):
    np.testing.assert_allclose(served[f"{task}_logits"],
                               expected[task].numpy(), atol=1e-4)
  for task in ("semantic", "motion"):
    np.testing.assert_array_equal(
        served[f"{task}_class"], np.argmax(served[f"{task}_logits"], -1))
