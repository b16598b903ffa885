"""tfmtl.methods: one name space, `describe` from the code, the public API."""

import subprocess
import sys

import pytest

from tfmtl import aggregation, methods
from tfmtl.errors import UserError


@pytest.mark.parametrize("name", methods.names())
def test_describe_every_method(name):
  info = methods.describe(name)
  assert info.name == name and info.summary and info.paper
  assert info.family in ("weighting", "aggregation", "composition")
  assert info.level.split(",")[0] in ("loss", "gradient", "representation")
  if name not in ("sum", "mean"):  # "d = Σ w_t g_t" is their summary
    assert info.rule
  names = [o.name for o in info.options]
  cls = methods.factory(name)
  gramian = isinstance(cls, type) and issubclass(
      cls, aggregation.GramianWeighted) and info.level != "representation"
  assert ("rep_grad" in names) == gramian
  text = str(info)
  assert text.startswith(f"{name}: ") and "options:" in text


def test_describe_reads_levels_state_and_options():
  cagrad = methods.describe("cagrad")
  assert cagrad.level == "gradient" and cagrad.family == "aggregation"
  assert "Liu, Liu, Jin, Stone, Liu" in cagrad.paper
  c = {o.name: o for o in cagrad.options}["c"]
  assert (c.type_name, c.default, c.allowed) == ("float", 0.4, ">= 0")
  assert "radius of the ball" in c.doc
  assert "d  = g_0 + (√φ / ‖g_w*‖) g_w*" in cagrad.rule
  assert cagrad.state == [("alpha", "T", False)]
  assert methods.describe("mgda_ub").level == "representation"
  assert methods.describe("modo").level == "gradient, 3 batches"
  unc = methods.describe("uncertainty")
  assert unc.level == "loss" and unc.state == [("log_var", "T", True)]
  db = methods.describe("db_mtl")
  assert ("db_mtl_buffer", "T, n", False) in db.state
  assert db.needs == ["losses"]


def test_describe_a_composition_lists_both_parts():
  info = methods.describe("uncertainty+pcgrad")
  assert info.family == "composition" and info.level == "gradient"
  names = [o.name for o in info.options]
  assert "weighting_kwargs.init" in names
  assert "aggregator_kwargs.max_orders" in names
  with pytest.raises(UserError, match="is not a weighting method"):
    methods.describe("pcgrad+uncertainty")


def test_the_public_names_import_lazily_in_a_fresh_process():
  code = ("import sys, tfmtl; names = dir(tfmtl); "
          "assert 'tensorflow' not in sys.modules, 'import tfmtl is not lazy'; "
          "print(' '.join(names)); print(len(tfmtl.methods.names()))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, check=True).stdout.split("\n")
  for name in ("Trainer", "TaskSplit", "Task", "make_train_step", "methods",
               "losses", "metrics", "data", "models", "export", "kinds"):
    assert name in out[0].split()
  assert int(out[1]) == len(methods.names())
