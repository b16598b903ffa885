"""One name space over both method families, for configs (`config.method`).

`WEIGHTING+AGGREGATION` (e.g. `uncertainty+pcgrad`) names a composition
(tfmtl/aggregation/composed.py); `module:Class` names a user's method.
"""

import dataclasses
import difflib
import functools
import inspect
from typing import Callable, Tuple

from tfmtl import aggregation, registry, weighting
from tfmtl.aggregation.composed import Composed, split_name
from tfmtl.errors import UserError


def names():
  """Every registered method name, both families, sorted."""
  return sorted(weighting.WEIGHTINGS.names() + aggregation.AGGREGATORS.names())


@dataclasses.dataclass(frozen=True)
class Resolved:
  """What a method name names.

  Attributes:
    family: "weighting", "aggregation", "composition" or "user" (a
      `module:function` factory or class of the user's).
    factory: builds the method from keyword arguments.
    parts: a composition's (weighting, aggregation) names.
  """
  family: str
  factory: Callable
  parts: Tuple[str, ...] = ()


def resolve(name: str) -> Resolved:
  """The one place a method name is read: `NAME` (a registered method),
  `package.module:function` (user code) or `WEIGHTING+AGGREGATION` (a
  composition, tfmtl/aggregation/composed.py)."""
  if not isinstance(name, str) or not name:
    raise UserError(f"method {name!r}: name a method ({', '.join(names())})")
  if ":" in name:
    return Resolved("user", registry.import_object(name, "method"))
  parts = split_name(name)
  if parts:
    w, a = parts
    if w not in weighting.WEIGHTINGS:
      raise UserError(f"{w!r} in {name!r} is not a weighting method; "
                      f"known: {', '.join(weighting.WEIGHTINGS.names())}")
    if a not in aggregation.AGGREGATORS:
      raise UserError(f"{a!r} in {name!r} is not an aggregation method; "
                      f"known: {', '.join(aggregation.AGGREGATORS.names())}")
    return Resolved("composition", functools.partial(_compose, name, w, a),
                    (w, a))
  for family, table in (("weighting", weighting.WEIGHTINGS),
                        ("aggregation", aggregation.AGGREGATORS)):
    if name in table:
      return Resolved(family, table.factory(name))
  near = difflib.get_close_matches(name, names(), n=1)
  raise UserError(f"unknown method {name!r}; "
                  + (f"did you mean {near[0]!r}? " if near else "")
                  + f"known: {', '.join(names())}")


def _compose(name, w, a, weighting_kwargs=None, aggregator_kwargs=None,
             **unknown):
  if unknown:
    raise UserError(f"method {name!r} takes weighting_kwargs and "
                    f"aggregator_kwargs, not {sorted(unknown)}")
  return Composed(weighting.get(w, **dict(weighting_kwargs or {})),
                  aggregation.get(a, **dict(aggregator_kwargs or {})),
                  name=name.replace("+", "_"))


def factory(name):
  """The factory of method `name`, unbuilt: its class, the user's factory,
  or a composition's builder."""
  return resolve(name).factory


def xla_support(name) -> Tuple[bool, str]:
  """(whether method `name` compiles with XLA, why not), without building
  it: the classes' declared `xla_ok` / `xla_reason` (a user's factory
  function that declares nothing is taken as compiling)."""
  r = resolve(name)
  classes = ([weighting.WEIGHTINGS.factory(r.parts[0]),
              aggregation.AGGREGATORS.factory(r.parts[1])]
             if r.family == "composition" else [r.factory])
  ok = all(getattr(c, "xla_ok", True) for c in classes)
  reason = next((getattr(c, "xla_reason", "") for c in classes
                 if not getattr(c, "xla_ok", True)), "")
  return ok, reason


def get(name, **kwargs):
  """A weighting or aggregation method by name, built with `kwargs`.

  A composition takes `weighting_kwargs` and `aggregator_kwargs`.
  """
  r = resolve(name)
  if r.family == "aggregation":
    return aggregation.get(name, **kwargs)  # rep_grad's own message
  if r.family != "user":
    return r.factory(**kwargs)
  try:
    method = r.factory(**kwargs)
  except TypeError as e:
    raise UserError(f"method {name!r}: {e}") from None
  if not isinstance(method, (weighting.Weighting, aggregation.Aggregator)):
    raise UserError(f"method {name!r} is neither a tfmtl.weighting."
                    "Weighting nor a tfmtl.aggregation.Aggregator")
  return method


# ------------------------------------------------------------ describe


@dataclasses.dataclass
class MethodInfo:
  """What `describe` tells of a method, all read from its code.

  Attributes:
    name: the registered name.
    family: "weighting" (loss level), "aggregation" (gradient level) or
      "composition" (WEIGHTING+AGGREGATION).
    level: what a step computes for it: "loss" (one backward pass of
      Σ w_t L_t), "gradient" (per-task gradients J of the shared
      variables), "representation" (per-task gradients of the shared
      representation, then one shared backward), "gradient, K batches".
    summary: the class docstring's first line.
    rule: the update rule (the docstring's first paragraph and formula).
    paper: the first reference of the docstring.
    state: [(variable, shape, trainable)] the method keeps between steps,
      shapes in T (tasks) and n (shared parameters).
    options: every option (`tfmtl.options.Option`), the shared ones
      (`rep_grad`, a composition's parts) included.
    needs: what the step hands it besides J or the losses.
  """
  name: str
  family: str
  level: str
  summary: str
  rule: str
  paper: str
  state: list
  options: list
  needs: list

  def __str__(self):
    lines = [f"{self.name}: {self.summary}",
             f"  kind: {self.family} ({self.level} level)",
             f"  paper: {self.paper or '-'}", "  rule:"]
    lines += ["    " + l for l in self.rule.splitlines()]
    lines.append("  state: " + (", ".join(
        f"{n} [{s}]" + (" (trained)" if tr else "") for n, s, tr in
        self.state) or "none"))
    if self.needs:
      lines.append(f"  needs: {', '.join(self.needs)}")
    lines.append("  options:" if self.options else "  options: none")
    for o in self.options:
      allowed = f", {o.allowed}" if o.allowed else ""
      lines.append(f"    {o.name}: {o.type_name} = {o.default!r}{allowed}"
                   + (f" — {o.doc}" if o.doc else ""))
    return "\n".join(lines)


_SECTIONS = ("References:", "Args:", "Absent tasks", "Output scale",
             "Differences", "Variants", "Scale:")


def _paragraphs(doc):
  out, block = [], []
  for line in doc.splitlines():
    if line.strip():
      block.append(line)
    elif block:
      out.append(block)
      block = []
  if block:
    out.append(block)
  return out


def _rule(doc: str) -> str:
  """The first paragraph after the summary, the formula block under it and
  a paragraph continuing its sentence."""
  paras = _paragraphs(doc)[1:]
  keep = []
  for block in paras:
    text = block[0].strip()
    if text.startswith(_SECTIONS):
      break
    indented = block[0].startswith("  ")
    if not keep or indented or (keep and text[:1].islower()):
      keep.append("\n".join(l.rstrip() for l in block))
      continue
    break
  return "\n\n".join(keep)


def _references(doc: str) -> str:
  if "References:" not in doc:
    return ""
  paras = _paragraphs(doc.split("References:", 1)[1])
  return " ".join(l.strip() for l in paras[0]) if paras else ""


def _paper(cls) -> str:
  """The class's references, else its module's, else the module's title."""
  module = inspect.getdoc(inspect.getmodule(cls)) or ""
  found = _references(inspect.getdoc(cls) or "") or _references(module)
  if found:
    return found
  head = module.splitlines()
  return head[0].rstrip(".") if head else ""


def _shape_in(v, t, n) -> str:
  dims = []
  for d in v.shape:
    dims.append("T" if d == t else "n" if d == n else str(d))
  return ", ".join(dims) or "scalar"


def _built_state(method, family):
  """[(name, shape, trainable)] of the method built on a few dummy tasks
  (T = 3, n = 7 shared parameters), or [] when it can't be built so."""
  from tfmtl.tasks import Task  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  shared = [tf.Variable(tf.zeros([3, 2])), tf.Variable(tf.zeros([1]))]
  for roles in (("main", "aux", "aux"), ("main", "main", "main")):
    tasks = [Task(f"t{i}", None, role=r, kpi=lambda y, p: 0.5)
             for i, r in enumerate(roles)]
    try:
      if family == "weighting":
        method.build(tasks)
      else:
        method.build(tasks, num_params=7, shared_variables=shared)
    except Exception:  # pylint: disable=broad-except
      continue
    return [(v.name.split(":")[0].split("/")[-1], _shape_in(v, 3, 7),
             bool(v.trainable)) for v in method.variables]
  return []


def describe(name: str) -> MethodInfo:
  """Everything about method `name`, read from its code: kind and level,
  paper, rule, state and every option with its type, default and range.

      print(tfmtl.methods.describe("cagrad"))
  """
  from tfmtl import options as options_lib  # pylint: disable=g-import-not-at-top
  parts = split_name(name) if ":" not in name else None
  if parts:
    w, a = describe(parts[0]), describe(parts[1])
    if w.family != "weighting" or a.family != "aggregation":
      get(name)  # the one-line error that says which part is wrong
    opts = [options_lib.Option(f"weighting_kwargs.{o.name}", o.type,
                               o.default, o.limit, o.doc) for o in w.options]
    opts += [options_lib.Option(f"aggregator_kwargs.{o.name}", o.type,
                                o.default, o.limit, o.doc)
             for o in a.options if o.name != "rep_grad"]
    return MethodInfo(
        name, "composition", a.level, f"{w.summary} + {a.summary}",
        f"w = {parts[0]}(L); d = {parts[1]}(diag(w) J) "
        "(tfmtl/aggregation/composed.py)", f"{w.paper}; {a.paper}",
        w.state + a.state, opts, sorted(set(w.needs) | set(a.needs)))
  cls = factory(name)
  if not isinstance(cls, type):  # a factory function (imtl_hybrid)
    made = cls()
    inner = made
    cls_doc = cls
  else:
    made, inner, cls_doc = None, None, cls
  method = made if made is not None else _default(cls)
  family = ("weighting" if isinstance(method, weighting.Weighting) else
            "composition" if isinstance(method, Composed) else "aggregation")
  needs = sorted(method.needs)
  if family == "weighting":
    level = "loss"
  elif "representation" in method.needs:
    level = "representation"
  else:
    level = "gradient"
  if method.batches_per_step > 1:
    level += f", {method.batches_per_step} batches"
  opts = options_lib.options_of(cls) if isinstance(cls, type) else []
  # options_of already lists the shared options (rep_grad among them) of
  # a class that declares them; add rep_grad only where it is missing.
  if isinstance(method, aggregation.GramianWeighted) and \
      "representation" not in method.needs and \
      "rep_grad" not in {o.name for o in opts}:
    opts.append(options_lib.Option(
        "rep_grad", bool, False, None,
        "weigh by the Gramian of the gradients w.r.t. the shared "
        "representation and make one backward pass through the shared "
        "layers (LibMTL's rep_grad; needs a model whose heads read one "
        "shared representation)"))
  doc = inspect.getdoc(cls_doc) or ""
  del inner
  return MethodInfo(
      name=name, family=family, level=level,
      summary=(doc.splitlines() or [""])[0].rstrip("."),
      rule=_rule(doc) or _rule(inspect.getdoc(inspect.getmodule(cls_doc))
                               or ""),
      paper=_paper(cls_doc), state=_built_state(method, "weighting" if
                                                family == "weighting"
                                                else "aggregation"),
      options=opts, needs=[n for n in needs if n != "representation"])


def _default(cls):
  """cls built with its defaults (options that must be set get 1)."""
  try:
    return cls()
  except UserError:
    required = {o.name: 1 for o in __import__(
        "tfmtl.options", fromlist=["options_of"]).options_of(cls)
                if o.name == "steps_per_epoch"}
    return cls(**required)
