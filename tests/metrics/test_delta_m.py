"""Delta_m against LibMTL's documented example and a hand-computed case."""

import pytest

from tfmtl.errors import UserError
from tfmtl.metrics.delta_m import delta_m


def test_libmtl_docstring_example():
  # LibMTL/utils.py count_improvement example: base A [96, 98], B [0.2];
  # new A [93, 99], B [0.5]; weight A [1, 0] (1 = higher is better), B [1].
  # A: (-(96-93)/96 + (98-99)/98)/2 = -0.0207270; B: -(0.2-0.5)/0.2 = 1.5
  # -> (1.5 - 0.0207270)/2 = 0.7396365 -> 73.96365 %.
  single = {"A": {"a1": 96, "a2": 98}, "B": {"b": 0.2}}
  mtl = {"A": {"a1": 93, "a2": 99}, "B": {"b": 0.5}}
  hib = {"a1": True, "a2": False, "b": True}
  got = delta_m(mtl, single, hib)
  want = 100 * ((-3 / 96 - 1 / 98) / 2 + 1.5) / 2
  assert got == pytest.approx(want)
  assert got == pytest.approx(73.96365, abs=1e-4)


def test_seed_001_table_sign():
  # Seed 001: single (ARD 11.35 %, mIoU 86.71, motion 86.6) vs vanilla MTL
  # (12.31, 82.32, 80.52): every metric worse, so Delta_m < 0:
  # depth -(12.31-11.35)/11.35, semantic (82.32-86.71)/86.71,
  # motion (80.52-86.6)/86.6 -> mean = -6.847 %.
  single = {"depth": {"abs_rel": 0.1135}, "semantic": {"miou": 0.8671},
            "motion": {"miou": 0.866}}
  mtl = {"depth": {"abs_rel": 0.1231}, "semantic": {"miou": 0.8232},
         "motion": {"miou": 0.8052}}
  want = 100 * (-(0.96 / 11.35) - 4.39 / 86.71 - 6.08 / 86.6) / 3
  got = delta_m(mtl, single)
  assert got == pytest.approx(want, rel=1e-12)
  assert round(got, 3) == -6.847  # as printed (−6.8473…)
  # Equal results give 0; a better MTL gives a positive value.
  assert delta_m(single, single) == 0.0
  better = {"depth": {"abs_rel": 0.1}, "semantic": {"miou": 0.9},
            "motion": {"miou": 0.9}}
  assert delta_m(better, single) > 0


def test_task_specific_direction_and_errors():
  single = {"t": {"score": 2.0}}
  assert delta_m({"t": {"score": 1.0}}, single,
                 {"t/score": False}) == pytest.approx(50.0)
  with pytest.raises(UserError, match="no direction"):
    delta_m({"t": {"score": 1.0}}, single)
  with pytest.raises(UserError, match="multi-task"):
    delta_m({}, single, {"score": True})
