"""tools/compare.py: results files of several runs -> one table."""

import json
import os

import numpy as np
import pytest

from tfmtl.errors import UserError
from tools import compare


def _write(tmp_path, name, tasks, metrics, seed, method="fixed"):
  wd = tmp_path / name
  os.makedirs(wd)
  headline = {t: {k: v for k, v in m.items() if k in ("miou", "abs_rel")}
              for t, m in metrics.items()}
  report = dict(metrics=metrics, headline=headline, tasks=tasks, seed=seed,
                method=method, model="net", gmacs=0.5, params=10)
  with open(wd / "results_test.json", "w") as f:
    json.dump(report, f)
  return str(wd)


def test_table_groups_seeds_and_scores_against_averaged_baselines(tmp_path):
  dirs = [
      _write(tmp_path, "st_sem0", ["semantic"], {"semantic": {"miou": 0.5}}, 0),
      _write(tmp_path, "st_sem1", ["semantic"], {"semantic": {"miou": 0.7}}, 1),
      _write(tmp_path, "st_dep0", ["depth"], {"depth": {"abs_rel": 0.2}}, 0),
  ]
  both = {"semantic": {"miou": 0.66}, "depth": {"abs_rel": 0.18}}
  dirs += [_write(tmp_path, f"mtl{s}", ["semantic", "depth"], both, s)
           for s in (0, 1)]
  names, rows = compare.table([compare.load(d, "test") for d in dirs])
  by_name = {name: cells for name, cells, _ in rows}
  mtl = by_name["net + fixed"]
  assert mtl["semantic mIoU (%)"] == (66.0, 0.0)
  np.testing.assert_allclose(by_name["single-task semantic"][
      "semantic mIoU (%)"], (60.0, 10.0))
  # Δm against the seed-averaged baselines: semantic +10%, depth +10%.
  np.testing.assert_allclose(mtl["Δm%"][0], 10.0, rtol=1e-6)
  text = compare.markdown(names, rows)
  assert "| net + fixed |" in text and "0,1" in text
  compare.chart(names, rows, str(tmp_path / "chart.png"))
  assert os.path.getsize(tmp_path / "chart.png") > 1000


def test_delta_m_uses_each_runs_headline_for_tasks_named_anything(tmp_path):
  # Classification tasks named "left"/"right" (MultiMNIST): the kind can't be
  # told from the name, so the baselines come from each run's own headline.
  def write(name, tasks, acc, seed):
    wd = tmp_path / name
    os.makedirs(wd)
    metrics = {t: {"accuracy": a, "loss": 0.4} for t, a in zip(tasks, acc)}
    report = dict(metrics=metrics, seed=seed, tasks=tasks, method="mgda",
                  headline={t: {"accuracy": a} for t, a in zip(tasks, acc)},
                  model="net", gmacs=0.5, params=10)
    with open(wd / "results_test.json", "w") as f:
      json.dump(report, f)
    return compare.load(str(wd), "test")
  reports = [write("l", ["left"], [0.90], 0),
             write("r", ["right"], [0.80], 0),
             write("m", ["left", "right"], [0.81, 0.84], 0)]
  names, rows = compare.table(reports)
  cells = {name: c for name, c, _ in rows}["net + mgda"]
  # left −10%, right +5% → Δm = −2.5%; accuracy shown in percent.
  np.testing.assert_allclose(cells["Δm%"][0], -2.5, rtol=1e-6)
  np.testing.assert_allclose(cells["right acc (%)"][0], 84.0)
  assert names == ["left acc (%)", "right acc (%)", "GMACs", "Δm%"]


def test_rows_say_how_their_train_labels_were_cut(tmp_path):
  # The same method on every image and on the labelled images alone are two
  # rows, named from each run's config.json.
  dirs = []
  for name, kwargs in (("part", {"label_fraction": {"depth": 0.25}}),
                       ("drop", {"label_fraction": {"depth": 0.25},
                                 "drop_unlabelled": True}),
                       ("all", {})):
    wd = _write(tmp_path, name, ["semantic", "depth"],
                {"semantic": {"miou": 0.5}, "depth": {"abs_rel": 0.2}}, 0)
    with open(os.path.join(wd, "config.json"), "w") as f:
      json.dump({"data": {"kwargs": kwargs}}, f)
    dirs.append(wd)
  _, rows = compare.table([compare.load(d, "test") for d in dirs])
  assert [name for name, _, _ in rows] == [
      "net + fixed (depth 25%)",
      "net + fixed (depth 25%, labelled images only)", "net + fixed"]


def test_runs_of_one_method_with_different_settings_are_separate_rows(tmp_path):
  # PRF as published (main_task only) and PRF with other statistics: two
  # rows named by what differs; main_task, the same in both, is not shown.
  # Seeds of one setting still pool into one row.
  dirs = []
  for name, prf, seed in (("plain0", {"main_task": "rot"}, 0),
                          ("plain1", {"main_task": "rot"}, 1),
                          ("gate0", {"main_task": "rot", "variance": "mean",
                                     "gate_ema": 0.9}, 0)):
    wd = _write(tmp_path, name, ["rot", "flow"],
                {"rot": {"abs_rel": 0.1}, "flow": {"abs_rel": 0.2}}, seed,
                method="prf")
    with open(os.path.join(wd, "config.json"), "w") as f:
      json.dump({"method_kwargs": {"prf": prf, "atg": {"w": 1}}}, f)
    dirs.append(wd)
  _, rows = compare.table([compare.load(d, "test") for d in dirs])
  assert [(name, seeds) for name, _, seeds in rows] == [
      ("net + prf", [0, 1]),
      ("net + prf (variance=mean, gate_ema=0.9)", [0])]


def test_paired_table_is_each_row_minus_the_reference_on_the_same_seed(
    tmp_path):
  dirs = []
  for method, values in (("atg", (0.30, 0.20, 0.50)),
                         ("prf", (0.25, 0.26, 0.40)),
                         ("cosine", (0.10, None, None))):
    for seed, v in enumerate(values):
      if v is not None:
        dirs.append(_write(tmp_path, f"{method}{seed}", ["rot", "flow"],
                           {"rot": {"abs_rel": v}, "flow": {"miou": 0.5}},
                           seed, method=method))
  reports = [compare.load(d, "test") for d in dirs]
  names, rows = compare.paired(reports, "net + atg")
  assert names == ["rot ARD (%)", "flow mIoU (%)"]
  by_name = {n: (cells, seeds) for n, cells, seeds in rows}
  assert set(by_name) == {"net + prf", "net + cosine"}
  # prf − atg: −5, +6, −10 percentage points: mean −3, 2 of 3 lower.
  m, sd, lower, n = by_name["net + prf"][0]["rot ARD (%)"]
  np.testing.assert_allclose([m, sd], [-3.0, np.std([-5.0, 6.0, -10.0])])
  assert (lower, n) == (2, 3)
  assert by_name["net + cosine"][0]["rot ARD (%)"][2:] == (1, 1)
  assert by_name["net + cosine"][1] == [0]
  text = compare.paired_markdown(names, rows, "net + atg")
  assert "| net + prf | -3 ± 6.7 (2/3 lower) |" in text
  with pytest.raises(UserError, match="not a row"):
    compare.paired(reports, "net + pcgrad")


def test_a_multi_task_row_with_fewer_tasks_names_them(tmp_path):
  # The main tasks alone (no auxiliary task) beside runs with it.
  dirs = [_write(tmp_path, "all", ["rot", "trans", "flow"],
                 {t: {"abs_rel": 0.1} for t in ("rot", "trans", "flow")}, 0),
          _write(tmp_path, "main", ["trans", "rot"],
                 {t: {"abs_rel": 0.1} for t in ("rot", "trans")}, 0)]
  _, rows = compare.table([compare.load(d, "test") for d in dirs])
  assert [n for n, _, _ in rows] == ["net + fixed",
                                     "net + fixed (only trans, rot)"]
