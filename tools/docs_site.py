"""The documentation site's generated pages, as MkDocs hooks (mkdocs.yml).

Pages written by hand live in docs/. At build time this module adds

  methods/NAME.md   one per registered method, from `tfmtl.methods.describe`
  data/NAME.md, models/NAME.md, losses/NAME.md   one per registry entry
  api/*.md          the API reference: every public name (mkdocstrings)
  benchmarks.md, results.md, build.md   BENCHMARKS.md, RESULTS.md, BUILD.md

and the navigation, so a method (source, model, loss) registered in its
family's __init__.py gets its page and its place in the nav by being
registered. In a page, `<!-- include: FILE#Heading -->` is replaced by that
section of FILE (README.md's text stays in one place) and
`<!-- generated: NAME -->` by a generated table (`GENERATED`).

A public name without a docstring is a warning, which `mkdocs build
--strict` (make docs) turns into a failed build naming the object.
"""

import ast
import importlib
import inspect
import logging
import os
import posixpath
import re
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # MkDocs loads hooks by path: make tfmtl importable
  sys.path.insert(0, ROOT)

log = logging.getLogger("mkdocs.hooks.tfmtl_docs")

# Repository files published as pages: {repository path: page}. Links
# between them are rewritten to their pages; README.md is the project's
# front page, whose place on the site is the home page.
COPIED = {"BENCHMARKS.md": "benchmarks.md", "RESULTS.md": "results.md",
          "BUILD.md": "build.md"}
SITE_OF = dict(COPIED, **{"README.md": "index.md"})
# A link whose text is the file's name gets the page's title instead.
PAGE_TITLES = {"benchmarks.md": "Benchmarks", "results.md": "Results",
               "build.md": "Building and testing", "index.md": "Home",
               "RELIABILITY.md": "Reliability"}

GUIDES = [
    ("Bring your own model", "guides/own-model.md"),
    ("Partial labels and per-task datasets", "guides/partial-labels.md"),
    ("Choosing a method", "guides/choosing-a-method.md"),
    ("Auxiliary tasks and PRF", "guides/auxiliary-tasks.md"),
    ("Distribution and mixed precision", "guides/distribution.md"),
    ("Checkpoints and resume", "guides/checkpoints.md"),
    ("Export and serving", "guides/export.md"),
    ("The CLI and configs", "guides/cli.md"),
    ("Add a method", "guides/add-a-method.md"),
    ("Reliability", "RELIABILITY.md"),
]

# The public names of `tfmtl` that get a page of their own.
TOP_LEVEL = ("Trainer", "TaskSplit", "Task", "make_train_step", "UserError",
             "NonFiniteError")

# What each method was made for, one line, from its paper: the one column
# of the methods table that is not read from the code. A method missing
# here still gets its row (and its page), with "see its page".
MADE_FOR = {
    "fixed": "the baseline: configured weights, tuned on validation data",
    "uncertainty": "tasks of different noise and loss scale (learned weights)",
    "gradnorm": "tasks training at different rates (gradient norms equalised)",
    "pseudo_gradnorm": "GradNorm's balance without its extra backward pass",
    "dwa": "tasks whose losses fall at different speeds, at no extra cost",
    "dtp": "hard tasks first: weights from each task's KPI",
    "rlw": "a baseline: random loss weights each step",
    "famo": "every loss falling at the same rate, at loss-level cost",
    "gls": "losses of very different scales (geometric mean)",
    "si": "scale invariance: the sum of log losses",
    "stch": "a chosen Pareto trade-off (smooth Tchebycheff)",
    "imtl_l": "loss scales learned to be equal (IMTL's loss part)",
    "imtl_hybrid": "IMTL whole: learned scales, then impartial gradients",
    "sum": "the gradient-level baseline: plain sum",
    "mean": "the gradient-level baseline: mean",
    "pcgrad": "conflicting task gradients (projected apart)",
    "mgda": "a common descent direction (Pareto stationarity)",
    "mgda_ub": "MGDA at the cost of the representation's gradients",
    "cagrad": "conflicts, while keeping the mean gradient's progress",
    "graddrop": "sign conflicts between gradients (dropped by consistency)",
    "imtl": "an update with equal projections on every task gradient",
    "nash_mtl": "scale-invariant weights from a bargaining game",
    "aligned_mtl": "conflicting and dominating gradients (condition number)",
    "aligned_mtl_ub": "Aligned-MTL at the representation's cost",
    "upgrad": "an update conflicting with no task (dual-cone projection)",
    "atg": "an auxiliary task known to help (weighted guidance)",
    "prf": "auxiliary tasks: a per-element probability-ratio gate",
    "cosine": "auxiliary tasks: dropped where they disagree (cosine < 0)",
    "cosine_weighted": "auxiliary tasks: gated by their cosine",
    "aux_project": "auxiliary tasks: their conflicting part removed",
    "metabalance": "auxiliary gradients far larger or smaller than the main",
    "modo": "the bias of stochastic MGDA (three batches a step)",
    "sdmgrad": "a preferred direction within MGDA's (three batches a step)",
    "gradvac": "gradients less similar than they usually are (target cosines)",
    "db_mtl": "balance of both loss scale and gradient magnitude",
    "moco": "the bias of stochastic MGDA (tracked gradients)",
    "excess_mtl": "noisy tasks: weights from each task's excess risk",
    "dualproj": "an update conflicting with no task (GEM's projection)",
    "conflict_free": "an update with a positive dot product with every task",
    "fairgrad": "a chosen fairness between tasks (α-fair allocation)",
    "krum": "outlying or corrupted task gradients (robust aggregation)",
    "trimmed_mean": "outlying or corrupted task gradients (robust mean)",
}

# What a step computes beyond the family's own passes, for `needs`.
NEED_COST = {
    "variance": "+ per-sample gradient variances",
    "grad_norms": "+ gradient norms at the watched layer",
    "losses_after": "+ one forward pass after the update",
}
NEED_TEXT = {
    "losses": "the task losses", "kpis": "each task's KPI",
    "losses_after": "the losses after the update (one more forward pass)",
    "grad_norms": "gradient norms at the watched shared layer",
    "step": "the step number", "variance": "per-sample gradient variances",
    "loss_weights": "the loss weights of a weighting",
}


# ------------------------------------------------------------ the text


def read(path):
  with open(os.path.join(ROOT, path), encoding="utf-8") as f:
    return f.read()


def section(text: str, heading: str) -> str:
  """The body of `text`'s section titled `heading` (up to the next heading
  of its level or above), without the heading line."""
  lines = text.splitlines()
  fence = False
  start = level = None
  for i, line in enumerate(lines):
    if line.startswith("```"):
      fence = not fence
    m = None if fence else re.match(r"(#+)\s+(.*?)\s*$", line)
    if not m:
      continue
    if start is not None and len(m.group(1)) <= level:
      return "\n".join(lines[start:i]).strip("\n") + "\n"
    if start is None and m.group(2) == heading:
      start, level = i + 1, len(m.group(1))
  if start is None:
    raise KeyError(f"no section {heading!r}")
  return "\n".join(lines[start:]).strip("\n") + "\n"


_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")


def rewrite_links(text: str, src: str, page: str) -> str:
  """Links of repository file `src`, shown on site page `page`: to published
  files and docs/ assets, relative to the page; to other repository files
  (source code), their path as code, since the site holds no source."""
  def fix(m):
    bang, label, target = m.groups()
    if re.match(r"[a-z]+:|#|/", target):
      return m.group(0)
    path, _, anchor = target.partition("#")
    repo = posixpath.normpath(posixpath.join(posixpath.dirname(src), path))
    if repo in SITE_OF:
      dest = SITE_OF[repo]
    elif repo.startswith("docs/"):
      dest = repo[len("docs/"):]
    else:
      code = f"`{repo}`"
      return code if label.strip("`") == path.rstrip("/") else \
          f"{label} ({code})"
    if label == path and dest in PAGE_TITLES:  # "[BUILD.md](BUILD.md)"
      label = PAGE_TITLES[dest]
    rel = posixpath.relpath(dest, posixpath.dirname(page) or ".")
    return f"{bang}[{label}]({rel}{'#' + anchor if anchor else ''})"
  return _LINK.sub(fix, text)


_INCLUDE = re.compile(r"<!-- include: ([^#\s]+)#(.+?) -->")
_GENERATED = re.compile(r"<!-- generated: ([\w-]+) -->")


def expand(markdown: str, page: str) -> str:
  """`markdown` of page `page` with its includes and generated tables."""
  def include(m):
    return rewrite_links(section(read(m.group(1)), m.group(2)), m.group(1),
                         page)
  markdown = _INCLUDE.sub(include, markdown)
  return _GENERATED.sub(lambda m: GENERATED[m.group(1)](page), markdown)


# Google-style section titles: the indented lines under them are entries
# (Griffe renders them), not a block to keep as it is.
SECTIONS = ("Args", "Arguments", "Parameters", "Returns", "Yields",
            "Raises", "Attributes", "Example", "Examples", "Note", "Notes",
            "Warning", "Warnings", "References", "Todo", "See Also",
            "Other Parameters", "Keyword Args", "Methods", "Functions",
            "Classes", "Modules")


def fence_indented(doc: str) -> str:
  """A docstring's indented blocks that stand alone (formulas, tables,
  examples: after a blank line, or under a line ending in ":" that is no
  Google section title such as Args:) as fenced code, so Markdown keeps
  their layout instead of running them into the paragraph. A block that
  parses as Python is highlighted so."""
  lines = doc.splitlines()
  out, i, in_section = [], 0, False
  while i < len(lines):
    line = lines[i]
    indented = line.startswith(" ") and line.strip()
    if not line.strip():
      out.append(line)
      i += 1
      continue
    if not indented:
      in_section = line.strip().rstrip(":") in SECTIONS and \
          line.rstrip().endswith(":")
      out.append(line)
      i += 1
      continue
    after_blank = i == 0 or not lines[i - 1].strip()
    under_colon = not after_blank and lines[i - 1].rstrip().endswith(":") \
        and not lines[i - 1].startswith(" ")
    if in_section or not (after_blank or under_colon):
      out.append(line)
      i += 1
      continue
    j = i
    while j < len(lines) and (lines[j].startswith(" ") or not lines[j].strip()):
      j += 1
    while j > i and not lines[j - 1].strip():
      j -= 1
    block = textwrap.dedent("\n".join(lines[i:j]))
    try:
      ast.parse(block)
      lang = "python"
    except SyntaxError:
      lang = "text"
    if under_colon:
      out.append("")  # a fence must not continue the paragraph
    out += [f"```{lang}", *block.splitlines(), "```"]
    i = j
  return "\n".join(out)


def split_shared_args(doc: str) -> str:
  """Google-style "Args:" entries naming several parameters ("height,
  width: ...") as one entry per parameter, the later ones pointing to the
  first: Griffe reads one name an entry, and would report the pair as a
  parameter missing from the signature."""
  lines = doc.splitlines()
  out, in_args, i = [], False, 0
  while i < len(lines):
    line = lines[i]
    i += 1
    if line.strip() and not line.startswith(" "):
      in_args = bool(re.match(r"(Args|Arguments|Parameters):\s*$", line))
    m = re.match(r"(\s+)(\w+(?:, \w+)+): (.*)$", line) if in_args else None
    if not m:
      out.append(line)
      continue
    pad, names, text = m.groups()
    first, *rest = names.split(", ")
    out.append(f"{pad}{first}: {text}")
    while i < len(lines) and lines[i].startswith(pad + " "):
      out.append(lines[i])  # the entry's continuation lines
      i += 1
    out += [f"{pad}{n}: as `{first}`." for n in rest]
  return "\n".join(out)


def table(header, rows) -> str:
  cell = lambda x: str(x).replace("|", "\\|").replace("\n", " ")
  lines = ["| " + " | ".join(header) + " |",
           "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
  return "\n".join(lines) + "\n"


# ------------------------------------------------------------ registries


def registered():
  """{section: sorted names} of the four registries the site pages."""
  import tfmtl  # pylint: disable=g-import-not-at-top
  return {"methods": tfmtl.methods.names(),
          "data": tfmtl.data.SOURCES.names(),
          "models": tfmtl.models.MODELS.names(),
          "losses": tfmtl.losses.LOSSES.names()}


def entry(section_name: str, name: str):
  """The object registered as `name`: a method's class (or factory), a
  source's factory, a model's class, a loss function."""
  import tfmtl  # pylint: disable=g-import-not-at-top
  if section_name == "methods":
    return tfmtl.methods.factory(name)
  if section_name == "data":
    return tfmtl.data.SOURCES.factory(name)
  if section_name == "models":
    return tfmtl.models.MODELS.factory(name)
  return tfmtl.losses.get(name)  # the registry holds loss *factories*


def path_of(obj) -> str:
  return f"{obj.__module__}.{obj.__qualname__}"


def source_file(obj) -> str:
  return os.path.relpath(inspect.getsourcefile(obj), ROOT)


def _signature(obj) -> str:
  try:
    return f"{obj.__name__}{inspect.signature(obj)}"
  except (TypeError, ValueError):
    return obj.__name__


def _short_paper(paper: str) -> str:
  """'Yu, Kumar, Finn. "Title", NeurIPS 2020, Algorithm 1.' -> 'Yu et al.,
  NeurIPS 2020' (the method's page has the whole reference)."""
  m = re.match(r'\s*([^"]*?)\.?\s*"([^"]+)"[,.]?\s*(.*)$', paper)
  if not m:
    return paper if len(paper) < 60 else paper[:57] + "…"
  authors, _, rest = m.groups()
  if "e.g." in authors or "`" in authors:  # a practice or a repository
    return ", ".join(authors.split("e.g.")[0].split(", ")[:2]).strip(" ,")
  names = [a.strip() for a in re.split(r",| and ", authors) if a.strip()]
  who = names[0] if names else ""
  if len(names) > 2 or "et al" in authors:
    who = re.sub(r"\s*et al\.?", "", who) + " et al."
  elif len(names) == 2:
    who = f"{names[0]} & {names[1]}"
  venue = re.split(r"\s\(|;|, (?:eq|Alg|§|Sec|Theorem|Table|the )", rest)[0]
  return f"{who}, {venue.strip().rstrip('.,')}".strip(", ")


def _short_cost(info) -> str:
  """The cost column of the methods table (the legend above it says what
  each form means)."""
  level = info.level
  text = ("1 backward" if level.startswith("loss") else
          "Z-Jacobian" if level.startswith("representation") else "J")
  batches = re.search(r"(\d+) batches", level)
  if batches:
    text += f" × {batches.group(1)} batches"
  extra = {"variance": "variances", "grad_norms": "grad norms",
           "losses_after": "+1 forward"}
  text += "".join(f" + {extra[n]}" for n in info.needs if n in extra
                  and n != "losses_after")
  if "losses_after" in info.needs:
    text += " +1 forward"
  return text


def _cost(info) -> str:
  if info.level.startswith("loss"):
    text = "1 backward pass"
  elif info.level.startswith("representation"):
    text = "T backward passes to the representation, 1 through the shared layers"
  else:
    text = "J: T backward passes through the shared layers"
  batches = re.search(r"(\d+) batches", info.level)
  if batches:
    text += f", on {batches.group(1)} batches"
  text += "".join(" " + NEED_COST[n] for n in info.needs if n in NEED_COST)
  return text


def _state(info) -> str:
  return ", ".join(f"{n} [{s}]" + (" (trained)" if tr else "")
                   for n, s, tr in info.state) or "none"


_FAMILY = {"weighting": "loss weights", "aggregation": "gradients",
           "composition": "composition"}


def methods_table(page: str) -> str:
  import tfmtl  # pylint: disable=g-import-not-at-top
  rows = []
  for name in tfmtl.methods.names():
    info = tfmtl.methods.describe(name)
    link = posixpath.relpath(f"methods/{name}.md", posixpath.dirname(page))
    state = [f"{n} [{s}]" for n, s, _ in info.state]
    if len(state) > 2:
      state = state[:2] + [f"+{len(state) - 2} more"]
    rows.append([f"[`{name}`]({link})", _FAMILY[info.family],
                 _short_cost(info), ", ".join(state) or "none",
                 _short_paper(info.paper),
                 MADE_FOR.get(name, "see its page")])
  return table(["method", "kind", "a step computes", "state", "paper",
                "made for"], rows)


def method_page(name: str) -> str:
  import tfmtl  # pylint: disable=g-import-not-at-top
  info = tfmtl.methods.describe(name)
  obj = entry("methods", name)
  public = f"tfmtl.{info.family if info.family != 'composition' else 'aggregation'}"
  needs = ", ".join(NEED_TEXT.get(n, n) for n in info.needs) or "nothing else"
  facts = [
      ("kind", f"{_FAMILY[info.family]} ({info.level} level)"),
      ("a step computes", _cost(info)),
      ("state between steps", _state(info)),
      ("needs from the step", needs),
      ("paper", info.paper or "-"),
      ("made for", MADE_FOR.get(name, "-")),
      ("class", f"`{public}.{obj.__name__}` (`{source_file(obj)}`)"),
      ("use", f"`tfmtl.Trainer(model, tasks, \"{name}\")`, "
              f"`--config.method={name}`")]
  out = [f"# {name}", "", f"**{info.summary}.**", ""]
  out += [f"- **{k}**: {v}" for k, v in facts]
  out += ["", "## Rule", "", fence_indented(info.rule or
                                          "(see the docstring below)"),
          "", "## Options", ""]
  if info.options:
    out.append(table(["option", "type", "default", "allowed", "what"], [
        [f"`{o.name}`", o.type_name, f"`{o.default!r}`", o.allowed or "any",
         o.doc] for o in info.options]))
    out.append(f"Set them with `tfmtl.methods.get(\"{name}\", KEY=VALUE)`, "
               f"`Trainer(..., method_kwargs={{KEY: VALUE}})` or "
               f"`--config.method_kwargs.{name}.KEY=VALUE`.\n")
  else:
    out.append("None.\n")
  doc = inspect.getdoc(obj) or ""
  doc = re.split(r"^Args:\s*$", doc, flags=re.M)[0].rstrip()
  # The whole docstring (differences from the paper, scale, absent tasks),
  # folded: its first paragraphs are the rule above.
  out += ["## Docstring", "", f"`{_signature(obj)}`", "",
          '??? note "The class docstring"', "",
          textwrap.indent(fence_indented(doc), "    "), ""]
  return "\n".join(out)


def _usage(section_name, name, obj) -> str:
  if section_name == "data":
    return (f"Use it with `--config.data.name={name}` (arguments: "
            f"`--config.data.kwargs.KEY=VALUE`) or "
            f"`tfmtl.data.get(\"{name}\", **kwargs)`.")
  if section_name == "models":
    return (f"Use it with `--config.model.name={name}` (arguments: "
            f"`--config.model.kwargs.KEY=VALUE`; the task names come from "
            f"`tasks`) or `tfmtl.models.get(\"{name}\", task_names=[...])`.")
  import tfmtl  # pylint: disable=g-import-not-at-top
  return (f"Family: `{tfmtl.losses.family(name)}` (what it trains; the "
          f"task's metrics follow from it). Use it as a task's loss: "
          f"`{{\"{name}\"}}` in `Trainer`'s tasks, `tfmtl.Task(name, "
          f"\"{name}\")` or `tasks.TASK.loss={name}` in a config.")


_TITLES = {"methods": "Methods", "data": "Data sources", "models": "Models",
           "losses": "Losses"}
_INTROS = {
    "methods": "Every registered method, by name (`config.method`, "
               "`Trainer(model, tasks, NAME)`). [Choosing a method]"
               "(../guides/choosing-a-method.md) compares them in one table.",
    "data": "Every registered data source (`config.data.name`); a function "
            "of your own is named `package.module:function`.",
    "models": "Every registered model (`config.model.name`); any Keras "
              "model returning `{task: output}` trains too ([Bring your "
              "own model](../guides/own-model.md)).",
    "losses": "Every per-example loss by name; a Keras loss or a function "
              "`(y_true, y_pred) -> [B]` works as a task's loss too.",
}


def entry_page(section_name: str, name: str) -> str:
  obj = entry(section_name, name)
  return "\n".join([
      f"# {name}", "", _usage(section_name, name, obj), "",
      f"::: {path_of(obj)}", "    options:", "      show_root_heading: true",
      "      heading_level: 2", ""])


def _summary(obj) -> str:
  return ((inspect.getdoc(obj) or "").splitlines() or [""])[0]


def index_page(section_name: str) -> str:
  rows = []
  for name in registered()[section_name]:
    obj = entry(section_name, name)
    rows.append([f"[`{name}`]({name}.md)", _summary(obj)])
  return (f"# {_TITLES[section_name]}\n\n{_INTROS[section_name]}\n\n"
          + table(["name", "what"], rows))


# ------------------------------------------------------------ config keys


def config_keys():
  """[(key, default, meaning)] of configs/common.py: the meanings from its
  docstring's key list, the defaults from `base_config()`, the function
  train.py starts every config from. Raises ValueError when the two
  disagree (a key set but not described, or described but not set and not
  marked optional)."""
  from configs import common  # pylint: disable=g-import-not-at-top
  doc = inspect.getdoc(common)
  body = doc.split("config file.\n", 1)[1] if "config file.\n" in doc else doc
  described, key = {}, None
  for line in body.splitlines():
    m = re.match(r"  (\S[^ ]*(?:, \S+)*)\s{2,}(.*)$", line)
    if m:
      key = m.group(1)
      described[key] = m.group(2).strip()
    elif re.match(r"  \S", line):  # a key alone on its line
      key = line.strip()
      described[key] = ""
    elif line.startswith("    ") and key:
      described[key] += " " + line.strip()
  config = common.base_config()
  rows, seen = [], set()
  for names, meaning in described.items():
    for name in re.split(r",\s*", names):
      top = name.split(".")[0]
      seen.add(top)
      if top not in config and "optional" not in meaning:
        raise ValueError(f"configs/common.py describes {name!r}, which "
                         "base_config() does not set (mark it optional?)")
      if "." in name.split("/")[0] or "/" in name:
        base, _, rest = name.partition(".")
        for sub in rest.split("/"):
          default = config[base][sub] if base in config else None
          rows.append((f"{base}.{sub}", _show(default), meaning))
      else:
        rows.append((name, _show(config[name]) if name in config else
                     "(not set)", meaning))
  unexplained = [k for k, _, m in rows if not m.strip()]
  if unexplained:
    raise ValueError("configs/common.py's docstring lists "
                     f"{', '.join(unexplained)} without saying what they mean")
  missing = sorted(set(config) - seen)
  if missing:
    raise ValueError(f"base_config() sets {', '.join(missing)}, which "
                     "configs/common.py's docstring does not describe")
  return rows


def _show(value):
  if hasattr(value, "to_dict"):
    value = value.to_dict()
  return f"`{value!r}`"


def config_table(page: str) -> str:
  del page
  return table(["key", "default", "what"],
               [(f"`{k}`", d, m) for k, d, m in config_keys()])


GENERATED = {"methods-table": methods_table, "config-keys": config_table}


# ------------------------------------------------------------ public API


def _module_file(modname):
  base = os.path.join(ROOT, *modname.split("."))
  return base + ".py" if os.path.exists(base + ".py") else \
      os.path.join(base, "__init__.py")


def _tree(modname):
  with open(_module_file(modname), encoding="utf-8") as f:
    return ast.parse(f.read())


def _defined(modname):
  """{name: (kind, node, docstring of an attribute)} defined at the top of
  a module, and {name: source module} of its `from X import name`."""
  tree = _tree(modname)
  defined, imported = {}, {}
  body = tree.body
  for i, node in enumerate(body):
    nxt = body[i + 1] if i + 1 < len(body) else None
    attr_doc = (nxt.value.value if isinstance(nxt, ast.Expr) and
                isinstance(nxt.value, ast.Constant) and
                isinstance(nxt.value.value, str) else None)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      defined[node.name] = ("function", node, None)
    elif isinstance(node, ast.ClassDef):
      defined[node.name] = ("class", node, None)
    elif isinstance(node, (ast.Assign, ast.AnnAssign)):
      targets = node.targets if isinstance(node, ast.Assign) else [node.target]
      for t in targets:
        if isinstance(t, ast.Name):
          defined[t.id] = ("attribute", node, attr_doc)
    elif isinstance(node, ast.ImportFrom) and node.module:
      for alias in node.names:
        imported[alias.asname or alias.name] = (node.module, alias.name)
  return defined, imported


def canonical(modname: str, name: str):
  """(module, name) where `modname.name` is defined, following imports."""
  defined, imported = _defined(modname)
  if name in defined or name not in imported:
    return modname, name
  module, original = imported[name]
  if os.path.exists(_module_file(module)) and module.startswith("tfmtl"):
    return canonical(module, original)
  return module, original


def public_members(modname: str):
  """[(public name, canonical path, kind, attribute docstring)] of a public
  module: its `__all__`, or else what it defines without a leading
  underscore and what it re-exports from its own subpackages."""
  defined, imported = _defined(modname)
  all_node = defined.get("__all__")
  if all_node:
    names = list(ast.literal_eval(all_node[1].value))
  else:
    names = [n for n in defined if not n.startswith("_")]
    names += [n for n, (m, _) in imported.items() if not n.startswith("_")
              and m.startswith(modname + ".")]
  out = []
  for name in names:
    module, original = canonical(modname, name)
    kind, _, attr_doc = _defined(module)[0].get(original, ("module", None,
                                                           None))
    if kind == "module":
      continue
    out.append((name, f"{module}.{original}", kind, attr_doc))
  return out


def _runtime(path):
  module, _, name = path.rpartition(".")
  return getattr(importlib.import_module(module), name)


def missing_docstrings():
  """["path: what"] for every public name without a docstring: the
  top-level names, the public modules and their members, and the public
  methods of their classes (a method inheriting its base's docstring
  counts as documented: `inspect.getdoc` finds it)."""
  import tfmtl  # pylint: disable=g-import-not-at-top
  missing = []
  for name in TOP_LEVEL:
    if not inspect.getdoc(getattr(tfmtl, name)):
      missing.append(f"tfmtl.{name}")
  for modname in public_modules():
    if not inspect.getdoc(importlib.import_module(modname)):
      missing.append(f"{modname} (module)")
    for name, path, kind, attr_doc in public_members(modname):
      if kind == "attribute":
        if not attr_doc:
          missing.append(f"{modname}.{name} (a docstring under the "
                         f"assignment in {path.rpartition('.')[0]})")
        continue
      obj = _runtime(path)
      if not inspect.getdoc(obj):
        missing.append(f"{modname}.{name} ({path})")
      if kind == "class":
        missing += _undocumented_methods(obj, path)
  return missing


def _undocumented_methods(cls, path):
  module, _, name = path.rpartition(".")
  node = _defined(module)[0][name][1]
  out = []
  for item in node.body:
    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
        not item.name.startswith("_"):
      if not inspect.getdoc(getattr(cls, item.name, None)):
        out.append(f"{path}.{item.name}")
  return out


def public_modules():
  import tfmtl  # pylint: disable=g-import-not-at-top
  return [f"tfmtl.{m}" for m in tfmtl._MODULES]  # pylint: disable=protected-access


def owners():
  """{canonical path: page} of the objects rendered on pages of their own
  (registry entries, the top-level names), so module pages link there
  instead of rendering them twice."""
  import tfmtl  # pylint: disable=g-import-not-at-top
  out = {}
  for section_name, names in registered().items():
    for name in names:
      out.setdefault(path_of(entry(section_name, name)),
                     f"{section_name}/{name}.md")
  for name in TOP_LEVEL:
    out.setdefault(path_of(getattr(tfmtl, name)), f"api/{name}.md")
  return out


def _long_value(path) -> bool:
  """Whether an attribute's assignment spans more than three lines (a
  registry's table: its entries have pages of their own)."""
  module, _, name = path.rpartition(".")
  node = _defined(module)[0][name][1]
  return node.end_lineno - node.lineno > 2


def _block(path, level=2, full_path=False, extra=()):
  return [f"::: {path}", "    options:", "      show_root_heading: true",
          f"      show_root_full_path: {str(full_path).lower()}",
          f"      heading_level: {level}", *extra, ""]


def _module_doc(modname, title):
  """A module's docstring under a heading of its own (the module where a
  page's objects are defined often explains them: base.py's contract)."""
  path = os.path.relpath(_module_file(modname), ROOT)
  return [f"## {title} (`{path}`)", "", f"::: {modname}", "    options:",
          "      members: false", "      show_root_heading: false", ""]


def api_pages():
  """{page: markdown} of the API reference: a page per top-level name and
  per public module, each showing the docstrings of the modules its
  objects are defined in."""
  import tfmtl  # pylint: disable=g-import-not-at-top
  pages = {}
  own = owners()
  public = set(public_modules())
  rows = []
  for name in TOP_LEVEL:
    obj = getattr(tfmtl, name)
    rows.append([f"[`tfmtl.{name}`]({name}.md)", _summary(obj)])
    lines = [f"# tfmtl.{name}", ""] + _block(path_of(obj))
    if obj.__module__ not in public:
      lines += _module_doc(obj.__module__, "About its module")
    pages[f"api/{name}.md"] = "\n".join(lines)
  for modname in public_modules():
    short = modname.split(".", 1)[1]
    rows.append([f"[`{modname}`]({short}.md)",
                 _summary(importlib.import_module(modname))])
    head = [f"# {modname}", "", f"::: {modname}", "    options:",
            "      members: false", "      show_root_heading: false", ""]
    body, elsewhere, explained = [], [], {modname}
    for name, path, kind, _ in public_members(modname):
      if path in own:
        elsewhere.append(f"[`{name}`]({posixpath.relpath(own[path], 'api')})")
        continue
      home = path.rpartition(".")[0]
      if home not in explained and home not in public:
        explained.add(home)
        body += _module_doc(home, f"`{name}` and its module")
      extra = ["      show_attribute_values: false"] if \
          kind == "attribute" and _long_value(path) else []
      body += _block(path, extra=extra)
    if elsewhere:
      head += ["On pages of their own: " + ", ".join(elsewhere) + ".", ""]
    pages[f"api/{short}.md"] = "\n".join(head + body)
  pages["api/index.md"] = (
      "# API reference\n\nThe public names of `tfmtl` (`dir(tfmtl)`), "
      "imported on first use so that `import tfmtl` stays light. Each "
      "page is generated from the docstrings.\n\n"
      + table(["name", "what"], rows))
  return pages


# ------------------------------------------------------------ the site


def pages():
  """{page: function returning its markdown} of every generated page."""
  out = {}
  for section_name, names in registered().items():
    out[f"{section_name}/index.md"] = \
        lambda s=section_name: index_page(s)
    for name in names:
      if section_name == "methods":
        out[f"methods/{name}.md"] = lambda n=name: method_page(n)
      else:
        out[f"{section_name}/{name}.md"] = \
            lambda s=section_name, n=name: entry_page(s, n)
  api = api_pages()
  for page, text in api.items():
    out[page] = lambda t=text: t
  for src, page in COPIED.items():
    out[page] = lambda s=src, p=page: rewrite_links(read(s), s, p)
  return out


def nav():
  """The site's navigation: the hand-written guides, then a section per
  registry and the API reference, each listing every generated page."""
  import tfmtl  # pylint: disable=g-import-not-at-top
  entries = [{"Getting started": "index.md"},
             {"Guides": [{t: p} for t, p in GUIDES]}]
  for section_name, names in registered().items():
    entries.append({_TITLES[section_name]: [f"{section_name}/index.md"] +
                    [{n: f"{section_name}/{n}.md"} for n in names]})
  api = ["api/index.md"] + [{f"tfmtl.{n}": f"api/{n}.md"} for n in TOP_LEVEL]
  api += [{m: f"api/{m.split('.', 1)[1]}.md"} for m in public_modules()]
  del tfmtl
  entries.append({"API reference": api})
  entries.append({"Benchmarks and results": [
      {"Benchmarks": "benchmarks.md"}, {"Results": "results.md"}]})
  entries.append({"Building and testing": "build.md"})
  return entries


# MkDocs hooks -----------------------------------------------------------


def on_config(config, **kwargs):
  del kwargs
  config.nav = nav()
  for problem in missing_docstrings():
    log.warning("public name without a docstring: %s", problem)
  return config


def on_files(files, config, **kwargs):
  del kwargs
  from mkdocs.structure.files import File  # pylint: disable=g-import-not-at-top
  for page, make in pages().items():
    files.append(File.generated(config, page, content=make()))
  return files


def on_page_markdown(markdown, page, **kwargs):
  del kwargs
  return expand(markdown, page.file.src_uri)
