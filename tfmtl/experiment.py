"""From a config to the pieces of a run: strategy, data, model, method, step.

train.py and eval.py are thin: they call `build` and loop. Every user
mistake in a config surfaces here as one `UserError` naming the key.
"""

import ast
import dataclasses
import difflib
import inspect
import re
import sys
from typing import Dict, Sequence

import keras
import numpy as np
import tensorflow as tf

from tfmtl import config_check, contract
from tfmtl import data as data_lib
from tfmtl import evaluation, kinds as kinds_lib, methods, models
from tfmtl import tasks as tasks_lib
from tfmtl.aggregation.composed import split_name
from tfmtl.errors import UserCodeError, UserError
from tfmtl.engine import TrainStep, make_train_step

OPTIMIZERS = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD,
              "adamw": keras.optimizers.AdamW}
PRECISIONS = ("", "float32", "mixed_float16", "mixed_bfloat16")
# Schema keys a config may leave out (older configs), with their defaults.
DEFAULTS = dict(mixed_precision="", max_nonfinite_skips=10, tpu_address="",
                epochs=0, show_method_logs=False)
# Examples of the first train batch whose labels are checked before training.
CHECK_EXAMPLES = 4


def setting(config, key):
  """`config.key`, or its default when the config predates the key."""
  return config.get(key, DEFAULTS[key])


def preflight(config) -> None:
  """Cheap checks before any device or file is touched."""
  from tfmtl import distribute  # pylint: disable=g-import-not-at-top
  config_check.check(config)
  methods.factory(config.method)  # a known method (or user code) by name
  _check_method_kwargs(config)
  if config.strategy not in distribute.STRATEGIES:
    raise UserError(f"config.strategy: unknown strategy {config.strategy!r}; "
                    f"known: {', '.join(distribute.STRATEGIES)}")
  if setting(config, "mixed_precision") not in PRECISIONS:
    raise UserError(
        f"config.mixed_precision = {setting(config, 'mixed_precision')!r} is "
        f"not one of {', '.join(repr(p) for p in PRECISIONS)}")
  if config.strategy == "tpu" or config.jit_compile is True:
    ok, reason = methods.xla_support(config.method)
    if not ok:
      where = "on TPU" if config.strategy == "tpu" else "with jit_compile"
      raise UserError(f"method {config.method} can't be compiled with XLA: "
                      f"{reason or 'no reason given'}; it can't run {where}")


def _check_method_kwargs(config) -> None:
  """Every `method_kwargs` section names a method (a typo would otherwise
  train with the default settings and say nothing)."""
  known = methods.names()
  for key in (config.get("method_kwargs") or {}):
    if ":" in key or key in known:
      continue
    near = difflib.get_close_matches(key, known, n=1)
    raise UserError(
        f"config.method_kwargs.{key}: there is no method {key!r}"
        + (f" (did you mean {near[0]!r}?)" if near else "")
        + f"; sections are named by method: {', '.join(known)}")


@dataclasses.dataclass
class Experiment:
  config: object
  strategy: tf.distribute.Strategy
  source: object
  tasks: Sequence[tasks_lib.Task]
  model: keras.Model
  method: object
  optimizer: keras.optimizers.Optimizer
  train_step: TrainStep = None
  # {task: kind summary} ("classification, 10 classes"), for start-up lines.
  kinds: Dict[str, str] = dataclasses.field(default_factory=dict)

  def train_dataset(self, skip: int = 0):
    """The distributed, shuffled, repeated train input.

    Args:
      skip: batches each replica drops first: how a resumed run finds its
        place when the iterator could not be checkpointed (distributed
        iterators can't be); the seeded pipeline replays. A pipeline that
        feeds several local replicas (MirroredStrategy: one pipeline, a
        batch to each replica in turn) drops that many times more.
    """
    c = self.config

    def fn(ctx):
      ds = self.source.dataset("train", c.batch_size, shuffle=True,
                               repeat=True, seed=c.seed, input_context=ctx)
      local = max(1, ctx.num_replicas_in_sync // ctx.num_input_pipelines)
      return ds.skip(skip * local) if skip else ds
    return self.strategy.distribute_datasets_from_function(fn)


def iterator_saveable(iterator) -> bool:
  """A single-device tf.data iterator is checkpointable; a distributed one
  (MirroredStrategy, multi-worker, TPU) is not."""
  return isinstance(iterator, tf.data.Iterator)


# Keys under which a config holds free-form keyword arguments: an override
# may name a key the config file doesn't list yet (a method's kwargs when
# the config lists no kwargs for it, a user model's own arguments, an
# optimizer's arguments, a task's `missing` or loss arguments, the kind of
# a task's metrics). A task itself is not open: tasks are added in the
# config file (`apply_open_overrides` says so, naming the known ones).
OPEN_KEYS = re.compile(
    r"^--config\.(method_kwargs\.[A-Za-z0-9_:.+-]+?|model\.kwargs|"
    r"data\.kwargs|optimizer|tasks\.[A-Za-z0-9_]+|eval_metrics)"
    r"\.([A-Za-z_][A-Za-z0-9_]*)(=(.*))?$")
# Top-level keys a config may leave out, settable from the command line.
OPTIONAL_KEYS = re.compile(r"^--config\.()(eval_depth_range|eval_metrics)"
                           r"(=(.*))?$")
# Where new keys can come from the command line (for error messages).
OPEN_WHERE = ("model.kwargs, data.kwargs, method_kwargs.METHOD, optimizer, "
              "tasks.TASK, eval_metrics")
_LATE = []  # (dict path, key, text) of open-key overrides, set in order


def parse_flags(argv):
  """absl flags parser that turns config mistakes into one line + exit 2.

  ml_collections reports an unknown `--config.key` as an AttributeError
  (with a "did you mean" hint) and a bad config file as an exception of the
  file's own; a user should see neither as a traceback. Overrides of open
  keys (`--config.method_kwargs.NAME.KEY=V`, `--config.model.kwargs.KEY=V`,
  `--config.data.kwargs.KEY=V`, `--config.optimizer.KEY=V`,
  `--config.tasks.TASK.KEY=V`, `--config.eval_metrics.TASK=KIND`) and of
  the optional keys `eval_depth_range` / `eval_metrics` are set after the
  config loads, whether or not the config lists the key (`load_config`).
  """
  from absl import flags  # pylint: disable=g-import-not-at-top
  _LATE.clear()
  rest, i = [], 0
  while i < len(argv):
    match = i and (OPEN_KEYS.match(argv[i]) or OPTIONAL_KEYS.match(argv[i]))
    if match and match.group(3) is None and i + 1 < len(argv):
      _LATE.append((match.group(1), match.group(2), argv[i + 1]))
      i += 2
      continue
    if match:
      _LATE.append((match.group(1), match.group(2), match.group(4)))
    else:
      rest.append(argv[i])
    i += 1
  if list(argv) == sys.argv:
    # ml_collections reads its overrides from sys.argv itself.
    sys.argv[:] = rest
  try:
    return flags.FLAGS(rest)
  except flags.Error as e:
    msg = _plain_flag_error(" ".join(str(e).split()))
  except (AttributeError, KeyError) as e:
    msg = _unknown_key(_flat(e), rest)
  except (TypeError, ValueError) as e:
    msg = f"bad config override or config file: {_flat(e)}"
  print(f"error: {msg}", file=sys.stderr)
  sys.exit(2)


# Python's and absl's texts for a value of the wrong type, in words.
_TYPE_ERRORS = (
    (r"invalid literal for int\(\) with base 10: (.*)$",
     r"expected a whole number, got \1"),
    (r"could not convert string to float: (.*)$", r"expected a number, got \1"),
    (r"\('Non-boolean argument to boolean flag', (.*)\)$",
     r"expected true or false, got \1"),
)


def _plain_flag_error(msg: str) -> str:
  for pattern, words in _TYPE_ERRORS:
    msg = re.sub(pattern, words, msg)
  return msg


def _flat(error) -> str:
  """An ml_collections error's text on one line, its quoting undone."""
  msg = " ".join(str(error).strip("'\"").replace("\\n", " ").split())
  return msg.replace("\\'", "'").replace('\\"', '"').strip("'\"")


def _unknown_key(msg: str, argv) -> str:
  """"--config.a.b: the config has no key 'a.b' ..." for ml_collections'
  KeyError / AttributeError of an override naming a key the config lacks."""
  key = re.split(r"['\"\s]", msg.strip("'\" "), maxsplit=1)[0]
  hint = re.search(r"Did you mean .*\?", msg)
  for arg in argv[1:]:
    path = arg[len("--config."):].split("=", 1)[0] if arg.startswith(
        "--config.") else ""
    parts = path.split(".")
    if key not in parts:
      continue
    where = ".".join(parts[:parts.index(key) + 1])
    if parts[0] == "tasks" and len(parts) > 1 and parts[1] == key:
      return (f"--config.{path}: config.tasks has no task {key!r}; a task "
              f"is added in the config file (config.tasks.{key} = "
              "dict(loss=..., weight=...)): --config.tasks is not an open "
              "key (a known task's settings are: "
              "--config.tasks.TASK.KEY=VALUE)")
    return (f"--config.{path}: the config has no key {where!r}"
            + (f" ({hint.group(0)})" if hint else "") + "; set new keys in "
            f"the config file (only {OPEN_WHERE} take new keys from the "
            "command line)")
  return f"bad config override or config file: {msg}"


def _parse_value(text: str, current):
  """A command-line value, typed like the value it replaces (if any)."""
  if isinstance(current, bool):
    if text.lower() in ("true", "1", "yes"):
      return True
    if text.lower() in ("false", "0", "no"):
      return False
    raise UserError(f"expected a boolean, got {text!r}")
  if isinstance(current, (int, float)) and not isinstance(current, bool):
    try:
      return type(current)(text) if isinstance(current, float) or \
          text.lstrip("-").isdigit() else float(text)
    except ValueError:
      raise UserError(f"expected a number, got {text!r}") from None
  if isinstance(current, str):
    return text
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def apply_open_overrides(config, overrides) -> None:
  """Sets `(path, key, text)` overrides, creating missing dicts and keys."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  for path, key, text in overrides:
    if path.startswith("tasks."):
      task = path.split(".", 1)[1]
      known = list(config.get("tasks") or {})
      if task not in known:
        raise UserError(
            f"--config.{path}.{key}: config.tasks has no task {task!r} (its "
            f"tasks: {', '.join(known) or 'none'}); a task is added in the "
            f"config file (config.tasks.{task} = dict(loss=..., "
            "weight=...)): --config.tasks is not an open key")
    with config.unlocked():
      node = config
      parts = (["method_kwargs", path.split(".", 1)[1]]
               if path.startswith("method_kwargs.") else path.split("."))
      for part in filter(None, parts):
        if part not in node or node[part] is None:
          node[part] = ml_collections.ConfigDict()
        node = node[part]
      try:
        value = _parse_value(text, node.get(key))
      except UserError as e:
        raise UserError(f"--config.{'.'.join(filter(None, (path, key)))}: "
                        f"{e}") from None
      if key in node and node.get(key) is not None and not isinstance(
          value, type(node.get(key))):
        del node[key]  # the type changes (e.g. int -> float): replace
      node[key] = value


def load_config(holder):
  """The config of a config_flags holder, with the open-key overrides set;
  a missing/broken file is a UserError (ml_collections loads the file
  lazily, on first access)."""
  try:
    config = holder.value
    config.keys()  # a failed load only raises on first attribute access
  except OSError as e:
    lines = [l.strip() for l in str(e).splitlines() if l.strip()]
    raise UserError(f"cannot load the config file: {lines[-1]}") from None
  apply_open_overrides(config, _LATE)
  return config


def method_kwargs(config, source=None) -> dict:
  """Keyword arguments of the chosen method.

  `config.method_kwargs` is keyed by method name, so a config can carry
  settings for several methods and `--config.method=...` picks one without
  the others' arguments getting in the way. A method that counts epochs
  (DWA's `steps_per_epoch`) and isn't told its length gets
  ⌊train examples / batch_size⌋ from the data source.
  """
  parts = split_name(config.method) if ":" not in config.method else None
  if parts:  # a composition: each part's own kwargs
    return {"weighting_kwargs": _kwargs_of(config, parts[0], source),
            "aggregator_kwargs": _kwargs_of(config, parts[1], source)}
  return _kwargs_of(config, config.method, source)


def _kwargs_of(config, name, source):
  per_method = config.get("method_kwargs") or {}
  kwargs = dict(per_method.get(name, {}))
  takes = inspect.signature(methods.factory(name)).parameters
  if ("steps_per_epoch" in takes and not kwargs.get("steps_per_epoch") and
      hasattr(source, "num_examples")):
    kwargs["steps_per_epoch"] = max(
        1, source.num_examples("train") // config.batch_size)
  return kwargs


def make_optimizer(config):
  """The optimizer of config.optimizer (checked by config_check)."""
  spec = dict(config.optimizer)
  name = spec.pop("name", "adam")
  if name not in OPTIMIZERS:
    raise UserError(f"unknown optimizer {name!r}; known: "
                    f"{', '.join(sorted(OPTIMIZERS))}")
  try:
    return OPTIMIZERS[name](**spec)
  except (TypeError, ValueError) as e:  # a value Keras refuses
    first = (str(e).strip().splitlines() or [""])[0]
    raise UserError(f"config.optimizer: {name} refused its arguments "
                    f"({type(e).__name__}: {first})") from None


def build(config, strategy, with_step: bool = True) -> Experiment:
  """Builds data, tasks, model (inside the strategy's scope), method, step."""
  preflight(config)
  if config.get("deterministic"):
    tf.config.experimental.enable_op_determinism()
  keras.utils.set_random_seed(config.seed)
  # Before the model exists: layers take the policy when they are built.
  keras.mixed_precision.set_global_policy(
      setting(config, "mixed_precision") or "float32")
  replicas = strategy.num_replicas_in_sync
  if config.batch_size % replicas:
    raise UserError(f"batch_size {config.batch_size} is not divisible by the "
                    f"{replicas} replicas; choose a multiple of {replicas}")
  source = data_lib.get(config.data.name, **config.data.kwargs)
  if setting(config, "epochs"):
    source = _steps_from_epochs(config, source, say=with_step)
  tasks = tasks_lib.from_config(config.tasks)
  unknown = [t.name for t in tasks if t.name not in source.task_names]
  if unknown:
    raise UserError(f"config.tasks {unknown} have no labels in data source "
                    f"{config.data.name!r} (it has {source.task_names})")
  names = [t.name for t in tasks]
  first = _first_batch(source, config.data.name)
  _check_batch_fits(config, source)
  sample, sample_labels = first[0], first[1]
  name = config.model.name
  with strategy.scope():
    made = _built(f"model {name!r}", "config.model.kwargs", ":" in name,
                  models.get, name, task_names=names, **config.model.kwargs)
    split = made if isinstance(made, models.TaskSplit) else None
    model = split.model if split else made
    if not isinstance(model, keras.Model):
      raise UserError(f"model {name!r} returned "
                      f"{type(made).__name__}, not a keras.Model")
    # Builds the variables in scope.
    outputs = _built(f"model {name!r} (called on the first train batch)",
                     "config.model.kwargs and that the data fits the model",
                     ":" in name, model, sample, training=False)
    method = _built(f"method {config.method!r}", "config.method_kwargs",
                    ":" in config.method, methods.get, config.method,
                    **method_kwargs(config, source))
    optimizer = make_optimizer(config)
  check_outputs(config, model, outputs, sample_labels)
  contract.check_shapes(tasks, outputs, sample_labels)
  kinds = evaluation.resolve_kinds(tasks, outputs, sample_labels,
                                   config.get("eval_metrics"))
  exp = Experiment(config, strategy, source, tasks, model, method, optimizer,
                   kinds={n: kinds_lib.summary(k, tuple(outputs[n].shape))
                          for n, k in kinds.items()})
  if with_step:
    exp.train_step = make_train_step(
        split or model, tasks, method, optimizer, strategy=strategy,
        clip_global_norm=config.clip_global_norm or None,
        clip_by_value=dict(config.clip_by_value),
        per_sample_mode=config.per_sample_mode,
        jit_compile=config.jit_compile,
        input_spec=source.dataset("train", 1).element_spec[0])
  return exp


def _built(what: str, where: str, user_code: bool, fn, *args, **kwargs):
  """`fn(*args, **kwargs)`, building a piece of the run from the config.

  A user's own code that raises (`module:function`) keeps its traceback
  and is named (`UserCodeError`); a shipped factory refusing its arguments
  (ValueError, TypeError) is one line pointing at `where`.
  """
  try:
    return fn(*args, **kwargs)
  except UserError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    if user_code:
      raise UserCodeError(what, e) from e
    if not isinstance(e, (TypeError, ValueError)):
      raise
    first = (str(e).strip().splitlines() or [""])[0]
    raise UserError(f"{what} can't be built: {type(e).__name__}: {first}; "
                    f"check {where}") from None


def _check_batch_fits(config, source) -> None:
  """A train batch holds each example once: batch_size is at most the
  train split (of each source of per-task datasets), where its size is
  known without reading it."""
  parts = (source.task_sources() if hasattr(source, "task_sources")
           else [(source, None)])
  for part, names in parts:
    n = _known_size(part)
    if n is not None and n < config.batch_size:
      of = f" (the source of task(s) {list(names)})" if names else ""
      raise UserError(
          f"config.batch_size = {config.batch_size} is larger than the {n} "
          f"train examples of data source {config.data.name!r}{of}; lower "
          "config.batch_size (a batch would hold examples twice)")


def _known_size(source):
  """Train examples of a source when known without reading the data (an
  in-memory or file-listing source, a dataset of known cardinality)."""
  if isinstance(source, data_lib.DatasetSource):
    n = int(source._get("train").cardinality())  # pylint: disable=protected-access
    return n if n >= 0 else None
  if hasattr(source, "num_examples"):
    try:
      return int(source.num_examples("train"))
    except (UserError, TypeError, ValueError):
      return None
  return None


def _first_batch(source, name):
  """The first few train examples (one clear line when there are none)."""
  try:
    return next(iter(source.dataset("train", CHECK_EXAMPLES,
                                    drop_remainder=False)))
  except StopIteration:
    raise UserError(f"data source {name!r}: the train split has no "
                    "examples (an empty dataset from a data function, a "
                    "source with no files, or a filter that keeps "
                    "nothing)") from None


def _steps_from_epochs(config, source, say=True):
  """Sets config.steps to epochs × ⌊train examples / batch_size⌋ (whole
  batches: the train input drops the remainder); returns the source,
  built again when its settings read config.steps."""
  if not hasattr(source, "num_examples"):
    raise UserError(f"config.epochs: data source {config.data.name!r} "
                    "can't tell its size; give config.steps instead")
  per_epoch = source.num_examples("train") // config.batch_size
  if per_epoch < 1:
    raise UserError(
        f"config.epochs: the train split has {source.num_examples('train')} "
        f"examples, fewer than one batch of {config.batch_size}; lower "
        "config.batch_size")
  steps = int(setting(config, "epochs")) * per_epoch
  with config.unlocked():
    config.steps = steps
  if say:
    print(f"epochs: {setting(config, 'epochs')} × {per_epoch} steps "
          f"(⌊{source.num_examples('train')} examples / batch "
          f"{config.batch_size}⌋) = {steps} steps", flush=True)
  if "total_steps" in str(config.data):  # e.g. an annealed sampler
    return data_lib.get(config.data.name, **config.data.kwargs)
  return source


def check_outputs(config, model, outputs, labels) -> None:
  """Every task is a model output; class labels fit the output channels.

  Only the first few train examples are checked: cheap, and it catches the
  systematic mistakes (raw dataset ids instead of train ids, a wrong
  num_classes); an out-of-range label would otherwise make a NaN loss on GPU
  and an error deep inside a step on CPU.
  """
  if not isinstance(outputs, dict):
    raise UserError(
        f"model {config.model.name!r} returns {type(outputs).__name__}, not a "
        "dict keyed by task name: make it return {'task': output, ...}")
  missing = [n for n in config.tasks if n not in outputs]
  if missing:
    raise UserError(f"config.tasks {missing} are not outputs of model "
                    f"{config.model.name!r} (it outputs {sorted(outputs)})")
  for name, spec in config.tasks.items():
    if spec.get("loss") != "sparse_ce":
      continue
    classes = int(outputs[name].shape[-1])
    ignore = int(spec.get("ignore_label", 255))
    y = np.asarray(labels[name]).astype(np.int64)
    # Negative labels are void (the .npy layout), like the ignore label.
    bad = y[(y != ignore) & (y >= classes)]
    if bad.size:
      raise UserError(
          f"task {name!r}: label {int(bad.max())} in the train data is out of "
          f"range for the {classes} classes model {config.model.name!r} "
          f"outputs (ignore label {ignore}); fix the labels or the model's "
          "number of classes")
