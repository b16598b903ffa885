"""Impossible settings, refused before anything is built or written.

Each check names the key, the value and what would be valid, so train.py
prints one line and exits 2 with an untouched workdir. Every key of
configs/common.py is checked here for its type and range; what needs the
data or the model (a task without labels, an eval split the source lacks,
a batch larger than the train split) is checked by `experiment.build`,
still before anything is written.

`max_nonfinite_skips` must be at least 1: there is no "never stop" setting
(a run whose every update is skipped would otherwise end with exit status 0
and `inf` metrics); give a large number to tolerate long stretches of
skipped updates. `steps = 0` is allowed: nothing is trained, the initial
(or restored) model is evaluated, nothing is written.

`warnings(config)` lists settings that are possible but most likely
mistakes (train.py prints them).
"""

import inspect
import math
import numbers
import re
from typing import List

from tfmtl.errors import UserError

# key: (smallest valid value, strictly greater?, what it means)
_BOUNDS = {
    "seed": (0, False, "initialisation and data order"),
    "batch_size": (0, True, "examples per step"),
    "steps": (0, False, "train steps; 0 trains nothing"),
    "epochs": (0, False, "train epochs (0: count steps instead)"),
    "log_every": (0, True, "steps between logs"),
    "checkpoint_every": (0, True, "steps between checkpoints"),
    "keep_checkpoints": (0, True, "checkpoints kept"),
    "eval_batch_size": (0, True, "examples per eval batch"),
    "clip_global_norm": (0, False, "the global-norm clip (0 = off)"),
    "max_nonfinite_skips": (0, True, "non-finite updates in a row before "
                                     "stopping; there is no 'never'"),
    "steps_per_loop": (0, True, "steps per tf.function call"),
    "num_devices": (0, False, "mirrored: 0 = every GPU, or N logical CPUs"),
}
# Keys whose value counts something: a float would be silently truncated.
_INTEGERS = ("seed", "batch_size", "steps", "epochs", "log_every",
             "checkpoint_every", "keep_checkpoints", "eval_batch_size",
             "max_nonfinite_skips", "steps_per_loop", "num_devices")
_BOOLEANS = ("deterministic", "show_method_logs")
_STRINGS = ("method", "strategy", "tpu_address", "eval_split",
            "mixed_precision", "per_sample_mode")
# Seeds Keras takes (keras.utils.set_random_seed).
_MAX_SEED = 2 ** 32 - 1
# The optimizer's own clipping (see DESIGN.md on per-replica clipping).
_OPTIMIZER_CLIPS = ("clipnorm", "clipvalue", "global_clipnorm")
# A learning rate above this is possible but almost surely a typo.
LARGE_LR = 1.0


def check(config) -> None:
  """Raises UserError for the first impossible setting of `config`."""
  for key in _BOOLEANS:
    if key in config and not isinstance(config[key], bool):
      raise UserError(f"config.{key} = {config[key]!r} must be True or False")
  if "jit_compile" in config and not (
      isinstance(config.jit_compile, bool) or config.jit_compile == "auto"):
    raise UserError(f"config.jit_compile = {config.jit_compile!r} must be "
                    "True, False or 'auto'")
  for key in _STRINGS:
    if key in config and not isinstance(config[key], str):
      raise UserError(f"config.{key} = {config[key]!r} must be a string")
  for key, (bound, strict, meaning) in _BOUNDS.items():
    if key in config:
      _number(f"config.{key}", config[key], bound, strict, meaning,
              integer=key in _INTEGERS)
  if config.get("seed", 0) > _MAX_SEED:
    raise UserError(f"config.seed = {config.seed} must be < 2**32")
  for section in ("data", "model"):
    _named(config, section)
  if not config.get("method"):
    raise UserError("config.method is empty: name a method (python -c "
                    "'import tfmtl; print(tfmtl.methods.names())')")
  if not config.get("eval_split", "test"):
    raise UserError("config.eval_split is empty: name a split (train, val, "
                    "test)")
  _per_sample_mode(config)
  _optimizer(config)
  _clip_by_value(config)
  _tasks(config)
  _eval_metrics(config)
  _depth_range(config)


def warnings(config) -> List[str]:
  """Possible settings that are most likely mistakes, one line each."""
  out = []
  lr = (config.get("optimizer") or {}).get("learning_rate", None)
  if _real(lr) and lr > LARGE_LR:
    out.append(f"config.optimizer.learning_rate = {lr:g} is far above the "
               f"usual range (<= {LARGE_LR:g}); the run will likely diverge "
               "(non-finite updates are skipped, and it stops after "
               "max_nonfinite_skips of them in a row)")
  if config.get("tpu_address") and config.get("strategy") != "tpu":
    out.append(f"config.tpu_address = {config.tpu_address!r} is ignored: "
               f"the strategy is {config.get('strategy')!r}, not 'tpu'")
  return out


def _real(v) -> bool:
  return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _number(name, value, bound, strict, meaning, integer=False) -> None:
  if not _real(value) or (integer and not isinstance(value, numbers.Integral)):
    kind = "a whole number" if integer else "a number"
    raise UserError(f"{name} = {value!r} must be {kind} ({meaning})")
  if value != value or (value <= bound if strict else value < bound):
    need = f"> {bound}" if strict else f">= {bound}"
    raise UserError(f"{name} = {value!r} must be {need} ({meaning})")


def _named(config, section) -> None:
  spec = config.get(section)
  if spec is None or not hasattr(spec, "get"):
    raise UserError(f"config.{section} = {spec!r} must be "
                    "dict(name=..., kwargs={...})")
  if not isinstance(spec.get("name"), str) or not spec.get("name"):
    raise UserError(f"config.{section}.name = {spec.get('name')!r}: name a "
                    f"registered {section} or package.module:function")
  kwargs = spec.get("kwargs")
  if kwargs is not None and not hasattr(kwargs, "items"):
    raise UserError(f"config.{section}.kwargs = {kwargs!r} must be a dict "
                    "of keyword arguments")


def _per_sample_mode(config) -> None:
  from tfmtl import per_sample  # pylint: disable=g-import-not-at-top
  mode = config.get("per_sample_mode", "independent")
  if mode not in per_sample.MODES:
    raise UserError(f"config.per_sample_mode = {mode!r} is not one of "
                    f"{', '.join(per_sample.MODES)}")


def _optimizer(config) -> None:
  """A known optimizer, a positive finite learning rate (or a schedule),
  and only keyword arguments the optimizer takes."""
  from tfmtl import experiment  # pylint: disable=g-import-not-at-top
  spec = config.get("optimizer")
  if spec is None or not hasattr(spec, "items"):
    raise UserError(f"config.optimizer = {spec!r} must be dict(name=..., "
                    "learning_rate=..., ...)")
  spec = dict(spec)
  name = spec.pop("name", "adam")
  if name not in experiment.OPTIMIZERS:
    raise UserError(f"config.optimizer.name = {name!r} is not a known "
                    f"optimizer; known: {', '.join(sorted(experiment.OPTIMIZERS))}")
  lr = spec.get("learning_rate", None)
  if _real(lr):
    if not lr > 0 or lr == math.inf:
      raise UserError(f"config.optimizer.learning_rate = {lr!r} must be a "
                      "positive finite number")
  elif lr is not None and not callable(lr):
    raise UserError(f"config.optimizer.learning_rate = {lr!r} must be a "
                    "number or a keras LearningRateSchedule")
  clips = sorted(k for k in spec if k in _OPTIMIZER_CLIPS)
  if clips:
    raise UserError(
        f"config.optimizer.{clips[0]}: clip with config.clip_global_norm / "
        "config.clip_by_value instead (Keras' optimizer clips each "
        "replica's gradients before they are summed, and before the "
        "method)")
  takes = _arguments(experiment.OPTIMIZERS[name])
  unknown = sorted(k for k in spec if k not in takes)
  if unknown:
    import difflib  # pylint: disable=g-import-not-at-top
    near = difflib.get_close_matches(unknown[0], sorted(takes), n=1)
    raise UserError(
        f"config.optimizer: {name} takes no argument {unknown[0]!r}"
        + (f" (did you mean {near[0]!r}?)" if near else "")
        + f"; it takes: {', '.join(sorted(takes))}")
  for key, value in spec.items():
    if key != "learning_rate" and _real(value) and value != value:
      raise UserError(f"config.optimizer.{key} = nan is not a number")


def _arguments(cls) -> set:
  """Keyword arguments of an optimizer class (its own and its base's)."""
  out = set()
  for klass in inspect.getmro(cls):
    init = klass.__dict__.get("__init__")
    if init is None:
      continue
    params = inspect.signature(init).parameters
    out |= {k for k, p in params.items() if k != "self" and p.kind in (
        p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
      break
  out.discard("name")  # config.optimizer.name is the optimizer's kind
  return out


def _clip_by_value(config) -> None:
  for pattern, c in dict(config.get("clip_by_value") or {}).items():
    if not _real(c) or not c > 0:
      raise UserError(f"config.clip_by_value[{pattern!r}] = {c!r} must be a "
                      "positive number")
    try:
      re.compile(pattern)
    except re.error as e:
      raise UserError(f"config.clip_by_value: {pattern!r} is not a regular "
                      f"expression ({e})") from None


def _tasks(config) -> None:
  """Every task builds (its loss, weight, role, missing; tasks.py)."""
  from tfmtl import tasks as tasks_lib  # pylint: disable=g-import-not-at-top
  tasks = config.get("tasks")
  if tasks is None or not hasattr(tasks, "items"):
    raise UserError(f"config.tasks = {tasks!r} must be a dict {{task: "
                    "dict(loss=..., weight=...)}}")
  for name, spec in tasks.items():
    if not hasattr(spec, "items"):
      raise UserError(f"config.tasks.{name} = {spec!r} must be "
                      "dict(loss=..., weight=..., role=...)")
  tasks_lib.from_config(tasks)


def _eval_metrics(config) -> None:
  from tfmtl import kinds  # pylint: disable=g-import-not-at-top
  given = config.get("eval_metrics")
  if not given:
    return
  if not hasattr(given, "items"):
    raise UserError(f"config.eval_metrics = {given!r} must be a dict "
                    "{task: kind}")
  for task, kind in given.items():
    kinds.check_name(kind, f"config.eval_metrics.{task}:")


def _depth_range(config) -> None:
  given = config.get("eval_depth_range")
  if given is None:
    return
  try:
    lo, hi = (float(v) for v in given)
  except (TypeError, ValueError):
    raise UserError(f"config.eval_depth_range = {given!r} must be (min, "
                    "max) in metres, e.g. (3.0, 80.0)") from None
  if not 0 <= lo < hi or math.isnan(hi):
    raise UserError(f"config.eval_depth_range = {tuple(given)!r} must have "
                    "0 <= min < max (metres scored by depth tasks)")
