"""configs/demo.py:multisource end to end on tiny generated scenes: train.py
trains the dual encoder on two scene sets (semantic + motion from one, depth
from another drawn with another seed and camera), eval.py scores every task
on its own set's test split."""

import os

import numpy as np
import pytest

from tfmtl import checkpoint, distribute, evaluation, experiment
from tfmtl import data as data_lib
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
  report = evaluation.evaluate_run(c, wd)
  assert set(report["metrics"]) == {"depth", "semantic", "motion"}
  assert report["step"] == 2
  assert np.isfinite(report["metrics"]["depth"]["abs_rel"])
  assert 0.0 <= report["metrics"]["semantic"]["miou"] <= 1.0
  # Depth was scored on the other set (seed 1, 1.5x focal length): its
  # test split's loss, recomputed, is what the report says.
  far = data_lib.get("scenes", **c.data.kwargs.sources.far.kwargs)
  assert far.task_names == ["depth"]
  exp = experiment.build(c, distribute.make_strategy("default"),
                         with_step=False)
  checkpoint.Checkpointer(os.path.join(wd, "checkpoints"), read_only=True,
                          model=exp.model).restore()
  depth = [t for t in exp.tasks if t.name == "depth"]
  alone = evaluation.evaluate(exp.model, depth, far, "test", 2,
                              depth_range=tuple(c.eval_depth_range))
  np.testing.assert_allclose(report["metrics"]["depth"]["abs_rel"],
                             alone["depth"]["abs_rel"], rtol=1e-5)
