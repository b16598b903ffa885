"""The documentation site (tools/docs_site.py, mkdocs.yml), without MkDocs.

`make docs` builds the site with --strict; these tests check what the build
cannot see by itself: every registry entry has its page and nav entry (a
newly registered method too), every public name has a docstring, the config
keys table covers base_config(), and every code block of the hand-written
pages runs (or is marked a fragment, with a reason).
"""

import glob
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from tools import docs_site

ROOT = docs_site.ROOT


def _nav_pages(entries):
  for item in entries:
    values = item.values() if isinstance(item, dict) else [item]
    for value in values:
      if isinstance(value, list):
        yield from _nav_pages(value)
      else:
        yield value


def test_every_registered_name_has_a_page_and_a_nav_entry():
  pages = docs_site.pages()
  nav = set(_nav_pages(docs_site.nav()))
  registered = docs_site.registered()
  assert set(registered) == {"methods", "data", "models", "losses"}
  for section, names in registered.items():
    assert len(names) > 5, section
    for name in names:
      page = f"{section}/{name}.md"
      assert page in pages, page
      assert page in nav, page
  # Every generated page is reachable from the nav, and every nav entry
  # is a generated page or a file in docs/.
  for page in pages:
    assert page in nav or page.endswith("index.md"), page
  for page in nav:
    assert page in pages or os.path.exists(os.path.join(ROOT, "docs", page)), page


def test_a_newly_registered_method_gets_its_page(monkeypatch):
  from tfmtl import aggregation
  monkeypatch.setitem(aggregation.AGGREGATORS._entries, "doc_probe",  # pylint: disable=protected-access
                      aggregation.PCGrad)
  assert "methods/doc_probe.md" in docs_site.pages()
  assert "methods/doc_probe.md" in set(_nav_pages(docs_site.nav()))
  text = docs_site.method_page("doc_probe")
  assert text.startswith("# doc_probe\n")
  # What describe says is on the page: options (rep_grad once), paper.
  for option in ("randomised", "max_orders", "rep_grad"):
    assert f"| `{option}` |" in text, option
  assert text.count("| `rep_grad` |") == 1
  assert "Gradient Surgery for Multi-Task Learning" in text
  assert "`doc_probe`" in docs_site.methods_table("guides/x.md")


def test_entry_pages_render_the_registered_object():
  assert "::: tfmtl.data.toy.correlated_regression" in docs_site.entry_page(
      "data", "correlated_regression")
  assert "::: tfmtl.models.hard_sharing.HardSharingMLP" in \
      docs_site.entry_page("models", "hard_sharing")
  loss = docs_site.entry_page("losses", "sparse_ce")
  assert "::: tfmtl.losses.sparse_ce" in loss and "`categorical`" in loss


def test_every_public_name_has_a_docstring():
  assert docs_site.missing_docstrings() == []


def test_a_missing_docstring_is_found(monkeypatch):
  from tfmtl import methods
  from tfmtl.aggregation import solvers
  monkeypatch.setattr(methods.names, "__doc__", None)
  monkeypatch.setattr(solvers.GramianWeighted.task_combination, "__doc__",
                      None)
  missing = docs_site.missing_docstrings()
  assert any(m.startswith("tfmtl.methods.names ") for m in missing), missing
  # PCGrad's task_combination inherited it: both are reported now.
  assert "tfmtl.aggregation.pcgrad.PCGrad.task_combination" in missing


def test_public_members_follow_all_and_reexports():
  engine = {n for n, *_ in docs_site.public_members("tfmtl.engine")}
  assert engine == {"TrainStep", "make_train_step", "check_partition",
                    "xla_problem", "Counters", "INITIAL_LOSS_SCALE",
                    "LOSS_SCALE_PERIOD"}
  weighting = dict((n, p) for n, p, *_ in
                   docs_site.public_members("tfmtl.weighting"))
  assert weighting["Weighting"] == "tfmtl.weighting.base.Weighting"
  assert weighting["WEIGHTINGS"] == "tfmtl.weighting.WEIGHTINGS"
  assert "Registry" not in weighting  # imported from elsewhere: not its own


def test_api_pages_render_each_public_name_once():
  members = []  # blocks rendering an object (not a module's docstring)
  for text in docs_site.api_pages().values():
    for path, options in re.findall(r"^::: (\S+)\n    options:\n"
                                    r"((?:      .*\n?)*)", text, flags=re.M):
      if "members: false" not in options:
        members.append(path)
  assert len(members) == len(set(members))
  assert "tfmtl.trainer.Trainer" in members
  assert "tfmtl.weighting.base.Weighting" in members
  # Registry entries are on their own pages, not again in the API's.
  assert "tfmtl.aggregation.pcgrad.PCGrad" not in members


def test_config_keys_cover_base_config(monkeypatch):
  from configs import common
  rows = {k: (d, m) for k, d, m in docs_site.config_keys()}
  for key in common.base_config():
    assert any(k == key or k.startswith(key + ".") for k in rows), key
  assert rows["batch_size"][0] == "`16`"
  assert rows["data.kwargs"][0] == "`{}`"
  assert "optional" in rows["eval_metrics"][1]

  original = common.base_config

  def with_an_undescribed_key():
    c = original()
    c.new_key = 1
    return c
  monkeypatch.setattr(common, "base_config", with_an_undescribed_key)
  with pytest.raises(ValueError, match="new_key"):
    docs_site.config_keys()


def test_links_of_copied_files_point_at_pages():
  text = docs_site.rewrite_links(
      "[r](RESULTS.md#qm9) ![p](docs/toy2d.png) [`tfmtl/kinds.py`]"
      "(tfmtl/kinds.py) [x](https://example.org) [BUILD.md](BUILD.md)",
      "README.md", "guides/cli.md")
  assert text == ("[r](../results.md#qm9) ![p](../toy2d.png) "
                  "`tfmtl/kinds.py` [x](https://example.org) "
                  "[Building and testing](../build.md)")


def test_fence_indented_keeps_formulas_and_sections():
  doc = textwrap.dedent("""\
      Summary.

      The rule:

        d = Σ_t w_t g_t

      Args:
        a, b: sizes.
      """)
  out = docs_site.fence_indented(doc)
  assert "```text\nd = Σ_t w_t g_t\n```" in out
  assert "Args:\n  a, b: sizes." in out
  assert "  a: sizes.\n  b: as `a`." in docs_site.split_shared_args(out)


# ------------------------------------------------------------ code blocks

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
_FRAGMENT = re.compile(r"<!-- fragment: (.*?) -->\s*$")


def _blocks():
  """{page: [code of each python block to run]}; asserts that every other
  block is marked a fragment with a reason."""
  out = {}
  for path in sorted(glob.glob(os.path.join(ROOT, "docs", "**", "*.md"),
                               recursive=True)):
    page = os.path.relpath(path, os.path.join(ROOT, "docs"))
    with open(path, encoding="utf-8") as f:
      text = docs_site.expand(f.read(), page)
    for m in _FENCE.finditer(text):
      before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
      marker = _FRAGMENT.search(before)
      if marker:
        assert len(marker.group(1).strip()) > 10, (page, marker.group(0))
        continue
      assert m.group(1) == "python", (
          f"{page}: a {m.group(1) or 'plain'} block that is not run needs "
          "<!-- fragment: reason --> on the line before it:\n"
          + m.group(2)[:200])
      out.setdefault(page, []).append(m.group(2))
  return out


_RUNNER = textwrap.dedent("""
    import json, os, sys, tempfile, traceback
    pages = json.load(open(sys.argv[1]))
    failed = []
    for page, blocks in pages.items():
      os.chdir(tempfile.mkdtemp())
      scope = {"__name__": "__docs__"}
      for i, code in enumerate(blocks):
        try:
          exec(compile(code, f"{page} block {i + 1}", "exec"), scope)
        except Exception:
          failed.append(f"{page} block {i + 1}:\\n" + traceback.format_exc())
          break
    print("FAILED\\n" + "\\n".join(failed) if failed else "ALL RAN")
    """)


@pytest.mark.slow  # ~17 s: one process runs every page's blocks (TF import 4 s)
def test_guide_code_blocks_run(tmp_path):
  pages = _blocks()
  assert {"index.md", "guides/own-model.md", "guides/export.md"} <= set(pages)
  spec = tmp_path / "blocks.json"
  spec.write_text(json.dumps(pages))
  env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2",
             CUDA_VISIBLE_DEVICES="")
  proc = subprocess.run([sys.executable, "-c", _RUNNER, str(spec)],
                        capture_output=True, text=True, env=env, cwd=ROOT,
                        timeout=600, check=False)
  assert "ALL RAN" in proc.stdout, proc.stdout[-4000:] + proc.stderr[-3000:]
