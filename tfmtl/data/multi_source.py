"""Per-task datasets: one source made of several, each labelling some tasks.

Real multi-task data often comes as separate datasets that each label
different tasks (semantics from one set, depth from another). A
`MultiSource` holds {source name: (source, tasks it labels)}; one source may
serve several tasks. Every element it yields is `(inputs, labels, weights)`
with a label and a [B] sample weight for *every* task: weight 1 on the
examples that came from the task's own source (or that source's own weight,
e.g. its `label_fraction`), 0 elsewhere, and zeros of the right shape and
dtype as the label of a task an example's source does not label. The step's
weighted loss (`tfmtl.engine.forward`: L_t = Σ_i s_ti l_ti / Σ_i s_ti over
the global batch) then makes each task's loss the mean over its own
source's examples; nothing else in the step changes.

Two modes (`mode=`):

- "concat" (LibMTL's `multi_input`): each step takes one batch of
  `batch_size` examples from *every* source and concatenates them, so a step
  holds K·batch_size examples for K sources; task t's loss and gradient come
  from its own source's batch alone, through the shared layers.
- "sample" (TF Model Garden's task samplers, official/modeling/multitask/
  task_sampler.py, used by its interleaving trainer): each step draws *one*
  source k with probability p_k(step) and yields its batch of `batch_size`;
  the tasks it doesn't label have weight 0 in that step. Samplers, with
  n_k the source's weight (default: its number of train examples):

    uniform       p_k = 1 / K
    proportional  p_k = n_k^α / Σ_j n_j^α
    annealed      as proportional with α(e) = 1 − 0.8 (e − 1) / (E − 1),
                  e = ⌊step / steps_per_epoch⌋, E = total_steps /
                  steps_per_epoch: from proportional (α ≈ 1) towards
                  uniform (α → 0.2) (Stickland & Murray, "BERT and PALs",
                  ICML 2019).

  The draw is Model Garden's: u ~ U[0, 1) from a stateless generator keyed
  by (seed, step), k = the first index with CDF_k > u. It depends on nothing
  but the seed and the batch's index, so every replica's pipeline draws the
  same source (a pipeline that feeds r local replicas, as MirroredStrategy's
  does, gives all r the same step's source) and a run resumed by replaying
  (`skip=`) draws the same sources as an uninterrupted one.

  The annealed formula is Model Garden's exactly (so its configs carry
  over), epoch counted from 0: α starts at 1 + 0.8 / (E − 1) and ends at
  1 − 0.8 (E − 2) / (E − 1), not at the paper's 1 and 0.2. Where we differ
  from Model Garden: α is held at its last epoch's value after
  `total_steps` (Model Garden's goes on falling, below 0 eventually, which
  would favour the smallest source), and E ≤ 1 is refused (its 1e-10 guard
  then gives α of order 1e10). "step" counts batches per replica (a method
  that reads two batches a step advances it by two).

  A task whose source is not drawn has no label in that step; what each
  method does then is the engine's business (loss 0, no gradient).

Evaluation reads each task on its own source's split: `task_sources()`
lists (source, tasks), and `tfmtl.evaluation.evaluate` evaluates each
source's tasks on that source alone. `dataset` of a split other than
"train" always concatenates (pictures during training).

Every source must give inputs of the same structure, dtypes and shapes
(e.g. the same image size); labels of one task come from one source only.
"""

from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfmtl.errors import UserError

MODES = ("concat", "sample")
SAMPLERS = ("uniform", "proportional", "annealed")


class MultiSource:
  """A data source made of per-task sources (module docstring).

  Args:
    parts: {source name: (source, [tasks it labels])}, in order; each source
      has the source protocol (`tfmtl.data.source`).
    mode: "concat" (a batch of every source each step) or "sample" (one
      source's batch a step, drawn by `sampler`).
    sampler: "uniform", "proportional" or "annealed" (mode "sample").
    alpha: the proportional sampler's exponent α (p ∝ n^α).
    steps_per_epoch: the annealed sampler's epoch length in batches
      (0: Σ_k n_k // batch_size).
    total_steps: the annealed sampler's E·steps_per_epoch (the run's steps).
    sizes: {source name: n_k}, the samplers' weights (default: each
      source's number of train examples).
  """

  def __init__(self, parts: Mapping[str, Tuple[object, Sequence[str]]],
               mode: str = "concat", sampler: str = "uniform",
               alpha: float = 1.0, steps_per_epoch: int = 0,
               total_steps: int = 0, sizes: Optional[Mapping] = None):
    if not parts:
      raise UserError("multi_source: give at least one source in sources=")
    if mode not in MODES:
      raise UserError(f"multi_source: mode {mode!r} is not one of "
                      f"{', '.join(MODES)}")
    if sampler not in SAMPLERS:
      raise UserError(f"multi_source: sampler {sampler!r} is not one of "
                      f"{', '.join(SAMPLERS)}")
    self.names = list(parts)
    self.sources = [parts[n][0] for n in self.names]
    self.tasks = [list(parts[n][1]) for n in self.names]
    self.mode, self.sampler = mode, sampler
    self.alpha = float(alpha)
    self.steps_per_epoch = int(steps_per_epoch or 0)
    self.total_steps = int(total_steps or 0)
    owner = {}
    for name, source, tasks in zip(self.names, self.sources, self.tasks):
      if not tasks:
        raise UserError(f"multi_source: source {name!r} labels no task; give "
                        f"its tasks (it has {list(source.task_names)})")
      for task in tasks:
        if task not in source.task_names:
          raise UserError(
              f"multi_source: source {name!r} has no task {task!r} (it has "
              f"{list(source.task_names)})")
        if task in owner:
          raise UserError(
              f"multi_source: task {task!r} is given by both {owner[task]!r} "
              f"and {name!r}; each task must come from one source")
        owner[task] = name
    self.task_names = [t for tasks in self.tasks for t in tasks]
    self._specs = self._check_specs()
    self._check_not_empty()
    if sizes:
      unknown = sorted(set(sizes) - set(self.names))
      if unknown:
        raise UserError(f"multi_source: sizes for unknown sources {unknown}; "
                        f"sources are {self.names}")
    self.sizes = None  # the samplers' n_k (mode "sample" only)
    if mode == "sample":
      self.sizes = np.array([float(sizes[n]) if sizes and n in sizes else
                             float(s.num_examples("train"))
                             for n, s in zip(self.names, self.sources)])
      self._check_sampler()

  # ------------------------------------------------------------- checks

  def _check_specs(self) -> Dict[str, tf.TensorSpec]:
    """{task: label spec}; refuses sources whose inputs disagree."""
    specs, labels = [], {}
    for name, source, tasks in zip(self.names, self.sources, self.tasks):
      spec = source.dataset("train", 1).element_spec
      specs.append(spec[0])
      for task in tasks:
        s = spec[1][task]
        if not s.shape[1:].is_fully_defined():
          raise UserError(
              f"multi_source: task {task!r} of source {name!r} has labels of "
              f"unknown shape {s.shape}; its source must give fixed shapes")
        labels[task] = tf.TensorSpec(s.shape[1:], s.dtype)
    first = _describe(specs[0])
    for name, spec in zip(self.names[1:], specs[1:]):
      if _describe(spec) != first:
        raise UserError(
            f"multi_source: sources {self.names[0]!r} and {name!r} give "
            f"different inputs: {first} vs {_describe(spec)}; make them "
            "agree (same input keys, image size and dtype)")
    return labels

  def _check_not_empty(self):
    """Every source has a train example: an empty one would end a
    concatenated input at once, and a sampled one when first drawn (a bare
    StopIteration mid-training)."""
    for name, source, tasks in zip(self.names, self.sources, self.tasks):
      for _ in source.dataset("train", 1, drop_remainder=False).take(1):
        break
      else:
        raise UserError(
            f"multi_source: source {name!r} (tasks {tasks}) has no train "
            "examples; check its data (an empty split, a filter that keeps "
            "nothing) or leave it out")

  def _check_sampler(self):
    if np.any(self.sizes <= 0):
      raise UserError(f"multi_source: sampler weights must be > 0, got "
                      f"{dict(zip(self.names, self.sizes.tolist()))}")
    if self.sampler == "annealed" and self.total_steps <= 0:
      raise UserError("multi_source: the annealed sampler needs "
                      "total_steps= (the run's steps, e.g. config.steps)")

  # ----------------------------------------------------------- protocol

  def num_examples(self, split: str) -> int:
    """Examples of an "epoch": the largest source's in mode "concat" (a step
    reads every source), all sources' in mode "sample"."""
    sizes = [s.num_examples(split) for s in self.sources]
    return max(sizes) if self.mode == "concat" else sum(sizes)

  def task_sources(self):
    """[(source, [its tasks])]: where evaluation reads each task."""
    return list(zip(self.sources, self.tasks))

  def dataset(self, split: str, batch_size: int, *, shuffle: bool = False,
              repeat: bool = False, seed: Optional[int] = None,
              drop_remainder: bool = True,
              input_context: Optional[tf.distribute.InputContext] = None):
    """Batches of `(inputs, labels, weights)` of every task.

    `batch_size` is per source: mode "concat" yields K·batch_size examples
    a step (each source's batch is split over replicas as the source does),
    mode "sample" batch_size. Source i shuffles with seed `seed + i`.
    """
    parts = []
    for i, source in enumerate(self.sources):
      ds = source.dataset(split, batch_size, shuffle=shuffle, repeat=repeat,
                          seed=None if seed is None else int(seed) + i,
                          drop_remainder=drop_remainder,
                          input_context=input_context)
      parts.append(ds.map(self._completer(i)))
    if len(parts) == 1:
      return parts[0]
    if self.mode == "sample" and split == "train":
      steps = self.steps_per_epoch or max(
          1, int(self.sizes.sum()) // int(batch_size))
      key = 0 if seed is None else int(seed)
      # A pipeline feeding r local replicas (MirroredStrategy) gives each a
      # batch in turn: r consecutive batches make one step, one source.
      r = 1 if input_context is None else max(
          1, input_context.num_replicas_in_sync //
          input_context.num_input_pipelines)
      choice = tf.data.Dataset.range(2 ** 62).map(_plain(
          lambda i: self.draw(i // r, key, steps)))
      return tf.data.Dataset.choose_from_datasets(
          parts, choice, stop_on_empty_dataset=True)
    return tf.data.Dataset.zip(tuple(parts)).map(_plain(_concat))

  # ------------------------------------------------------------ sampling

  def probabilities(self, step, steps_per_epoch: int = 0) -> tf.Tensor:
    """[K] float64 p_k(step) of the sampler (module docstring)."""
    k = len(self.sources)
    if self.sampler == "uniform":
      return tf.fill([k], tf.constant(1.0 / k, tf.float64))
    alpha = tf.constant(self.alpha, tf.float64)
    if self.sampler == "annealed":
      spe = float(steps_per_epoch or self.steps_per_epoch)
      if spe <= 0:
        raise UserError("multi_source: the annealed sampler needs "
                        "steps_per_epoch > 0")
      epochs = self.total_steps / spe
      if epochs <= 1.0:
        raise UserError(
            f"multi_source: the annealed sampler needs more than one epoch; "
            f"total_steps {self.total_steps} / steps_per_epoch {spe:g} = "
            f"{epochs:g}")
      step = tf.minimum(tf.cast(step, tf.float64), self.total_steps - 1.0)
      epoch = tf.floor(step / spe)
      alpha = 1.0 - 0.8 * (epoch - 1.0) / (epochs - 1.0 + 1e-10)
    weights = tf.pow(tf.constant(self.sizes, tf.float64), alpha)
    return weights / tf.reduce_sum(weights)

  def draw(self, step, seed: int = 0, steps_per_epoch: int = 0) -> tf.Tensor:
    """The index of the source of batch `step` (int64), from (seed, step)."""
    step = tf.cast(step, tf.int64)
    u = tf.random.stateless_uniform(
        [], tf.stack([tf.constant(seed, tf.int64), step]), dtype=tf.float64)
    cdf = tf.math.cumsum(self.probabilities(step, steps_per_epoch))
    cdf = tf.concat([cdf[:-1], [1.0]], 0)  # no rounding gap at the end
    return tf.argmax(tf.cast(cdf > u, tf.int64), output_type=tf.int64)

  # ------------------------------------------------------------- helpers

  def _completer(self, i):
    """Maps source i's batch to (inputs, every task's label, weights)."""
    own_tasks = set(self.tasks[i])
    names, specs = list(self.task_names), dict(self._specs)

    @_plain
    def complete(inputs, labels, own_weights=None):
      flat = tf.nest.flatten(inputs)[0]
      b = tf.shape(flat)[0]
      static_b = flat.shape[0]
      own_weights = own_weights or {}
      out_labels, weights = {}, {}
      for task in names:
        spec = specs[task]
        if task in own_tasks:
          out_labels[task] = labels[task]
          w = own_weights.get(task)
          weights[task] = (tf.ones([b], tf.float32) if w is None else
                           tf.reshape(tf.cast(w, tf.float32), [b]))
        else:
          zeros = tf.zeros(tf.concat([[b], spec.shape.as_list()], 0),
                           spec.dtype)
          out_labels[task] = tf.ensure_shape(zeros,
                                             [static_b, *spec.shape])
          weights[task] = tf.zeros([b], tf.float32)
      return inputs, out_labels, weights
    return complete


# Python loops over tasks only: no AutoGraph conversion needed.
_plain = tf.autograph.experimental.do_not_convert


def _concat(*elements):
  return tf.nest.map_structure(lambda *parts: tf.concat(parts, 0), *elements)


def _describe(spec) -> str:
  """Inputs' structure, per-example shapes and dtypes, for comparing."""
  if isinstance(spec, dict):
    return "{" + ", ".join(f"{k}: {_describe(spec[k])}"
                           for k in sorted(spec)) + "}"
  if isinstance(spec, (tuple, list)):
    return "(" + ", ".join(_describe(s) for s in spec) + ")"
  return f"{spec.dtype.name}{list(spec.shape[1:])}"


SOURCE_KEYS = ("name", "kwargs", "tasks")


def multi_source(sources: Mapping, mode: str = "concat",
                 sampler: str = "uniform", alpha: float = 1.0,
                 steps_per_epoch: int = 0, total_steps: int = 0,
                 sizes: Optional[Mapping] = None) -> MultiSource:
  """The registered source `multi_source`: per-task datasets from a config.

    config.data = dict(name="multi_source", kwargs=dict(
        sources=dict(
            street=dict(name="scenes", tasks=["semantic", "motion"],
                        kwargs=dict(seed=0)),
            far=dict(name="scenes", tasks=["depth"],
                     kwargs=dict(seed=1, focal_scale=1.5))),
        mode="concat"))            # or mode="sample", sampler="annealed",
                                   # total_steps=config.steps

  Args:
    sources: {source name: {name: a registered data source, kwargs: its
      arguments, tasks: the tasks it labels}}.
    mode, sampler, alpha, steps_per_epoch, total_steps, sizes: see
      `MultiSource`.
  """
  from tfmtl import data as data_lib  # pylint: disable=g-import-not-at-top
  if not sources or not hasattr(sources, "items"):
    raise UserError("multi_source: sources= must map a name to "
                    "dict(name=<data source>, kwargs={...}, tasks=[...])")
  parts = {}
  for label, spec in sources.items():
    spec = dict(spec or {})
    unknown = sorted(set(spec) - set(SOURCE_KEYS))
    if unknown or "name" not in spec or "tasks" not in spec:
      raise UserError(
          f"multi_source: source {label!r} has keys {sorted(spec)}; give "
          "name= (a data source), tasks= (the tasks it labels) and "
          "optionally kwargs=")
    if spec["name"] == "multi_source":
      raise UserError(f"multi_source: source {label!r} is itself a "
                      "multi_source; list its sources directly")
    tasks = spec["tasks"]
    tasks = [tasks] if isinstance(tasks, str) else list(tasks)
    source = data_lib.get(spec["name"], **dict(spec.get("kwargs") or {}))
    parts[label] = (source, tasks)
  return MultiSource(parts, mode=mode, sampler=sampler, alpha=alpha,
                     steps_per_epoch=steps_per_epoch,
                     total_steps=total_steps, sizes=sizes)
