"""configs/qm9.py builds the 11-target MPNN on a qm9pack-layout fixture."""

from configs import qm9 as qm9_config
from tests.data.test_qm9 import molecules, write_csv
from tfmtl import distribute, experiment
from tfmtl.data import qm9


def test_runlocal_builds_eleven_heads(tmp_path):
  write_csv(tmp_path / "q.csv", molecules(30))
  c = qm9_config.get_config("runlocal")
  c.data.kwargs.update(paths=[str(tmp_path / "q.csv")], test_size=5,
                       val_size=5, cache=False)
  c.model.kwargs.dim = 8
  exp = experiment.build(c, distribute.make_strategy("default"),
                         with_step=False)
  x, _ = next(iter(exp.source.dataset("train", 4)))
  out = exp.model(x)
  assert sorted(out) == sorted(qm9.TASKS)
  assert all(tuple(v.shape) == (4, 1) for v in out.values())


def test_single_target():
  c = qm9_config.get_config("only=cv")
  assert list(c.tasks) == ["cv"]
