"""From a config to the pieces of a run: strategy, data, model, method, step.

train.py and eval.py are thin: they call `build` and loop. Every user
mistake in a config surfaces here as one `UserError` naming the key.
"""

import dataclasses
import inspect
import sys
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from tfmtl import config_check
from tfmtl import data as data_lib
from tfmtl import methods, models
from tfmtl import tasks as tasks_lib
from tfmtl.errors import UserError
from tfmtl.train_step import TrainStep, make_train_step

OPTIMIZERS = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD,
              "adamw": keras.optimizers.AdamW}
PRECISIONS = ("", "float32", "mixed_float16", "mixed_bfloat16")
# Schema keys a config may leave out (older configs), with their defaults.
DEFAULTS = dict(mixed_precision="", max_nonfinite_skips=10, tpu_address="")
# Examples of the first train batch whose labels are checked before training.
CHECK_EXAMPLES = 4


def setting(config, key):
  """`config.key`, or its default when the config predates the key."""
  return config.get(key, DEFAULTS[key])


def preflight(config) -> None:
  """Cheap checks before any device or file is touched."""
  from tfmtl import distribute  # pylint: disable=g-import-not-at-top
  from tfmtl.train_step import xla_problem  # pylint: disable=g-import-not-at-top
  config_check.check(config)
  if config.strategy not in distribute.STRATEGIES:
    raise UserError(f"unknown strategy {config.strategy!r}; known: "
                    f"{', '.join(distribute.STRATEGIES)}")
  if setting(config, "mixed_precision") not in PRECISIONS:
    raise UserError(
        f"mixed_precision {setting(config, 'mixed_precision')!r} is not one "
        f"of {', '.join(repr(p) for p in PRECISIONS)}")
  if config.strategy == "tpu" or config.jit_compile:
    problem = xla_problem(methods.factory(config.method))
    if problem:
      where = "on TPU" if config.strategy == "tpu" else "with jit_compile"
      raise UserError(f"{problem}; it can't run {where}")


@dataclasses.dataclass
class Experiment:
  config: object
  strategy: tf.distribute.Strategy
  source: object
  tasks: Sequence[tasks_lib.Task]
  model: models.MultiTaskModel
  method: object
  optimizer: keras.optimizers.Optimizer
  train_step: TrainStep = None

  def train_dataset(self, skip: int = 0):
    """The distributed, shuffled, repeated train input.

    Args:
      skip: batches each input pipeline drops first: how a resumed run
        finds its place when the iterator could not be checkpointed
        (distributed iterators can't be); the seeded pipeline replays.
    """
    c = self.config

    def fn(ctx):
      ds = self.source.dataset("train", c.batch_size, shuffle=True,
                               repeat=True, seed=c.seed, input_context=ctx)
      return ds.skip(skip) if skip else ds
    return self.strategy.distribute_datasets_from_function(fn)


def iterator_saveable(iterator) -> bool:
  """A single-device tf.data iterator is checkpointable; a distributed one
  (MirroredStrategy, multi-worker, TPU) is not."""
  return isinstance(iterator, tf.data.Iterator)


def parse_flags(argv):
  """absl flags parser that turns config mistakes into one line + exit 2.

  ml_collections reports an unknown `--config.key` as an AttributeError
  (with a "did you mean" hint) and a bad config file as an exception of the
  file's own; a user should see neither as a traceback.
  """
  from absl import flags  # pylint: disable=g-import-not-at-top
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    msg = " ".join(str(e).split())
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    msg = " ".join(str(e).strip("'\"").replace("\\n", " ").split())
    msg = msg.replace("\\'", "'").replace('\\"', '"')
    msg = f"bad config override or config file: {msg}"
  print(f"error: {msg}", file=sys.stderr)
  sys.exit(2)


def load_config(holder):
  """The config of a config_flags holder; a missing/broken file is a
  UserError (ml_collections loads the file lazily, on first access)."""
  try:
    config = holder.value
    config.keys()  # a failed load only raises on first attribute access
    return config
  except OSError as e:
    lines = [l.strip() for l in str(e).splitlines() if l.strip()]
    raise UserError(f"cannot load the config file: {lines[-1]}") from None


def method_kwargs(config, source=None) -> dict:
  """Keyword arguments of the chosen method.

  `config.method_kwargs` is keyed by method name, so a config can carry
  settings for several methods and `--config.method=...` picks one without
  the others' arguments getting in the way. A method that counts epochs
  (DWA's `steps_per_epoch`) and isn't told its length gets
  ⌊train examples / batch_size⌋ from the data source.
  """
  per_method = config.get("method_kwargs") or {}
  kwargs = dict(per_method.get(config.method, {}))
  takes = inspect.signature(methods.factory(config.method)).parameters
  if ("steps_per_epoch" in takes and not kwargs.get("steps_per_epoch") and
      hasattr(source, "num_examples")):
    kwargs["steps_per_epoch"] = max(
        1, source.num_examples("train") // config.batch_size)
  return kwargs


def make_optimizer(config):
  spec = dict(config.optimizer)
  name = spec.pop("name", "adam")
  if name not in OPTIMIZERS:
    raise UserError(f"unknown optimizer {name!r}; known: "
                    f"{', '.join(sorted(OPTIMIZERS))}")
  return OPTIMIZERS[name](**spec)


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
  tasks = tasks_lib.from_config(config.tasks)
  unknown = [t.name for t in tasks if t.name not in source.task_names]
  if unknown:
    raise UserError(f"config.tasks {unknown} have no labels in data source "
                    f"{config.data.name!r} (it has {source.task_names})")
  names = [t.name for t in tasks]
  sample, sample_labels = next(iter(source.dataset(
      "train", CHECK_EXAMPLES, drop_remainder=False)))
  with strategy.scope():
    model = models.get(config.model.name, task_names=names,
                       **config.model.kwargs)
    outputs = model(sample, training=False)  # builds the variables in scope
    method = methods.get(config.method, **method_kwargs(config, source))
    optimizer = make_optimizer(config)
  check_outputs(config, model, outputs, sample_labels)
  exp = Experiment(config, strategy, source, tasks, model, method, optimizer)
  if with_step:
    exp.train_step = make_train_step(
        model, tasks, method, optimizer, strategy=strategy,
        clip_global_norm=config.clip_global_norm or None,
        clip_by_value=dict(config.clip_by_value),
        per_sample_mode=config.per_sample_mode,
        jit_compile=config.jit_compile)
  return exp


def check_outputs(config, model, outputs, labels) -> None:
  """Every task is a model output; class labels fit the output channels.

  Only the first few train examples are checked: cheap, and it catches the
  systematic mistakes (raw dataset ids instead of train ids, a wrong
  num_classes); an out-of-range label would otherwise make a NaN loss on GPU
  and an error deep inside a step on CPU.
  """
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
