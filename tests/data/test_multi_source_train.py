"""train.py on per-task datasets (multi_source, sampled steps): a run
stopped and resumed trains exactly as an uninterrupted one under
MirroredStrategy, whose iterator can't be checkpointed (the seeded pipeline
is replayed with `skip=`; single-device iterator checkpoints are tested in
test_multi_source.py), and eval.py scores each task."""

import ml_collections
import numpy as np
import pytest

import train as train_main
from configs import toy_two_task
from tfmtl import evaluation

STEPS = 6


def _config(strategy, steps):
  c = toy_two_task.get_config("runlocal")
  regression = dict(n=200, m=8)
  c.data = ml_collections.ConfigDict(dict(name="multi_source", kwargs=dict(
      sources=dict(
          one=dict(name="correlated_regression", tasks=["y1"],
                   kwargs=dict(regression, seed=1)),
          two=dict(name="correlated_regression", tasks=["y2"],
                   kwargs=dict(regression, n=600, seed=2))),
      mode="sample", sampler="annealed", steps_per_epoch=2,
      total_steps=STEPS)))
  c.model.kwargs.update(dict(dropout=0.0, trunk_units=[8], tower_units=[4]))
  c.update(dict(steps=steps, log_every=1, checkpoint_every=steps,
                batch_size=8, eval_batch_size=50, strategy=strategy,
                num_devices=2 if strategy == "mirrored" else 0))
  return c


def _weights(config, workdir):
  out = []
  results = train_main.train(config, workdir, after_training=lambda exp: (
      out.extend(v.numpy() for v in exp.model.trainable_variables)))
  return out, results


@pytest.mark.slow  # 18 s alone, up to 45 s on a loaded machine
def test_resumed_run_equals_uninterrupted_under_mirrored(tmp_path):
  strategy = "mirrored"  # over conftest's two logical CPUs
  straight, results = _weights(_config(strategy, STEPS), str(tmp_path / "a"))
  assert set(results) == {"y1", "y2"}
  _weights(_config(strategy, 3), str(tmp_path / "b"))
  resumed, _ = _weights(_config(strategy, STEPS), str(tmp_path / "b"))
  for a, b in zip(straight, resumed):
    np.testing.assert_allclose(a, b, atol=1e-7)
  # eval.py, with the config saved in the workdir: each task on its own
  # source's test split.
  config, _ = evaluation.run_config(str(tmp_path / "b"))
  assert config.data.kwargs.sources.two.tasks == ["y2"]
  report = evaluation.evaluate_run(config, str(tmp_path / "b"))
  assert set(report["metrics"]) == {"y1", "y2"}
  assert report["step"] == STEPS
