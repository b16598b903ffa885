"""configs/demo.py:multisource end to end on tiny generated scenes: train.py
trains the dual encoder on two scene sets (semantic + motion from one, depth
from another drawn with another seed and camera), eval.py scores every task
on its own set's test split."""

import glob
import json
import os

import numpy as np
import pytest

from tfmtl import evaluation
from tfmtl.data import cityscapes
import train as train_main
from configs import demo


@pytest.mark.slow
def test_demo_multisource_trains_and_evaluates_every_task(tmp_path):
  c = demo.get_config("multisource,runlocal")
  for name, source in c.data.kwargs.sources.items():
    source.kwargs.update(dict(height=32, width=64, num=10, workers=1,
                              root=str(tmp_path / name)))
  c.model.kwargs.width = 0.25
  c.batch_size = c.eval_batch_size = 2
  c.steps = c.checkpoint_every = 2
  c.log_every = 1
  wd = str(tmp_path / "wd")
  train_main.train(c, wd)
  # TensorBoard's checkpoint pictures: every task, each from its own set.
  from tensorboard.backend.event_processing import event_accumulator
  events = event_accumulator.EventAccumulator(os.path.join(wd, "train"))
  events.Reload()
  assert {"pictures/depth", "pictures/semantic", "pictures/motion"} <= set(
      events.Tags()["tensors"])
  report = evaluation.evaluate_run(c, wd, num_pictures=2)
  # Pictures of every task, each from its own set's first test batch.
  assert sorted(os.path.basename(p) for p in report["pictures"]) == [
      "test_depth.png", "test_motion.png", "test_semantic.png"]
  assert set(report["metrics"]) == {"depth", "semantic", "motion"}
  assert report["step"] == 2
  assert np.isfinite(report["metrics"]["depth"]["abs_rel"])
  assert 0.0 <= report["metrics"]["semantic"]["miou"] <= 1.0
  with open(os.path.join(wd, "results_test.json")) as f:
    assert set(json.load(f)["metrics"]) == {"depth", "semantic", "motion"}
  # Depth came from the other set: another seed and a 1.5x focal length
  # (that each task is scored on its own set is checked exactly in
  # test_multi_source.py).
  fx = {}
  for name in ("street", "far"):
    path = sorted(glob.glob(str(tmp_path / name / "**" / "*_camera.json"),
                            recursive=True))[0]
    fx[name] = cityscapes.read_camera_full(path)["fx"]
  np.testing.assert_allclose(fx["far"], 1.5 * fx["street"])
