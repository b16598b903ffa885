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
  c.batch_size = 4  # runlocal's 32 is more than the 20 train molecules
  exp = experiment.build(c, distribute.make_strategy("default"),
                         with_step=False)
  x, _ = next(iter(exp.source.dataset("train", 4)))
  out = exp.model(x)
  assert sorted(out) == sorted(qm9.TASKS)
  assert all(tuple(v.shape) == (4, 1) for v in out.values())


def test_single_target():
  c = qm9_config.get_config("only=cv")
  assert list(c.tasks) == ["cv"]


def test_reduced_is_runlocal_with_a_narrow_edge_network():
  local, reduced = (qm9_config.get_config(a) for a in ("runlocal", "reduced"))
  assert reduced.model.kwargs.edge_hidden == 32
  assert local.model.kwargs.edge_hidden == 128
  for c in (local, reduced):
    assert (c.data.kwargs.limit, c.model.kwargs.dim, c.batch_size,
            c.steps) == (2000, 32, 32, 300)
  single = qm9_config.get_config("reduced,only=mu")
  assert list(single.tasks) == ["mu"] and single.model.kwargs.edge_hidden == 32
