"""The model contract: which variables are shared, which are a task's own.

Any `keras.Model` whose call returns a dict keyed by task name trains with
tfmtl; nothing has to be subclassed. `TaskSplit(model)` reads the split from
the model itself, and takes it from you where you know better:

    split = TaskSplit(model)                                   # inferred
    split = TaskSplit(model, shared=trunk.trainable_variables,
                      per_task={"a": head_a.trainable_variables, ...},
                      representation=lambda x, training: (z, heads),
                      watch=trunk.layers[-1])

The rules, for the tasks being trained:
- a trainable variable that only task t's output depends on is t's own;
- one that two or more outputs depend on is shared. A variable read by some
  but not all tasks (two of three, say) is shared: J has a column for it,
  and the rows of the tasks that don't read it are zero there;
- a variable no trained output depends on is left out (not trained), with a
  warning.
Functional models are read from their graph; other models by a dependency
probe: one traced (never run) forward and T backward passes on a symbolic
batch, recording which variables each output has a gradient path to.

The shared representation Z, for methods that work on it (`mgda_ub`,
`aligned_mtl_ub`), is inferred for functional models as the cut between the
shared part of the graph and the task-only heads (`infer.representation_cut`).
The layer gradient-norm methods watch (GradNorm's "last shared layer") is the
shared layer nearest the heads, or `watch=`.

`resolve(model, tasks)` turns whatever the user passed — a TaskSplit, a
shipped tfmtl model (which gives its split explicitly), any Keras model —
into a TaskSplit, or raises one UserError that says what is wrong.
"""

from typing import Callable, Dict, Optional, Sequence

import keras
from absl import logging

from tfmtl.errors import UserError
from tfmtl.models import infer


class TaskSplit:
  """A Keras model with its task split (inferred, or given explicitly).

  Args:
    model: a built keras.Model whose call returns {task: output}.
    shared: the shared trainable variables (give with `per_task`).
    per_task: {task: its own trainable variables}.
    representation: `fn(inputs, training) -> (Z, heads)`, Z every tensor the
      heads read and heads(Z) the outputs dict, the heads reading no shared
      variable. Inferred for functional models when not given.
    watch: the layer (or its name) whose gradient norms gradient-norm
      methods read. Default: the shared layer nearest the heads.
    input_spec: symbolic inputs (e.g. `dataset.element_spec[0]`) for the
      dependency probe of non-functional models; default: the shapes the
      model was first called with.
    tasks: the tasks trained (default: every output of a functional model,
      or the keys of `per_task`).
  """

  def __init__(self, model, shared: Optional[Sequence] = None,
               per_task: Optional[Dict[str, Sequence]] = None,
               representation: Optional[Callable] = None,
               watch=None, input_spec=None,
               tasks: Optional[Sequence[str]] = None):
    if not isinstance(model, keras.Model):
      raise UserError(f"{type(model).__name__} is not a keras.Model; tfmtl "
                      "trains Keras models whose call returns a dict keyed "
                      "by task name")
    if (shared is None) != (per_task is None):
      raise UserError("TaskSplit: give both shared= and per_task=, or "
                      "neither (then both are inferred)")
    self.model = model
    self._representation = representation
    self._watch = watch
    self._input_spec = input_spec
    if tasks is None:
      tasks = (list(per_task) if per_task is not None else
               list(infer.output_tensors(model, _all_outputs(model))))
    self.task_names = list(tasks)
    if per_task is not None:
      missing = [t for t in self.task_names if t not in per_task]
      if missing:
        raise UserError(f"TaskSplit: per_task has no entry for tasks "
                        f"{missing}")
      self.shared_variables = infer.dedupe(shared)
      self._own = {t: infer.dedupe(per_task[t]) for t in self.task_names}
      self.inferred = False
      _check_partition(model, self.shared_variables, self._own)
    else:
      self.shared_variables, self._own = self._infer()
      self.inferred = True
    used = {id(v) for v in self.shared_variables}
    for vs in self._own.values():
      used.update(id(v) for v in vs)
    # Model order: a loss-level step hands these to the optimizer as one
    # list, and its slots are matched by position.
    self.trainable_variables = [v for v in model.trainable_variables
                                if id(v) in used]
    self.unused_variables = [v for v in model.trainable_variables
                             if id(v) not in used]
    if self.unused_variables:
      logging.warning(
          "model %s: no trained task's output depends on %d variable(s) "
          "(%s); they are left out of training", model.name,
          len(self.unused_variables),
          ", ".join(v.path for v in self.unused_variables[:5]))
    self._cut = None

  # --- inference ----------------------------------------------------------

  def _infer(self):
    model = self.model
    if not model.built:
      raise UserError(
          f"model {model.name} is not built: call it once on a batch "
          "(model(x)) or build it with the dataset's shapes first")
    if infer.is_functional(model):
      depends = infer.structural(model, self.task_names)
    else:
      spec = infer.input_spec_of(model, self._input_spec)
      depends = infer.probe(model, self.task_names, spec)
    shared, own, _ = infer.owners_by_task(
        depends, model.trainable_variables, self.task_names)
    return shared, own

  # --- the contract the train step reads ---------------------------------

  def task_variables(self, task: str):
    """Trainable variables only `task`'s output depends on."""
    return list(self._own[task])

  @property
  def watched_variables(self):
    """Variables of the layer gradient-norm methods watch."""
    layer = self._watch
    if isinstance(layer, str):
      layer = self.model.get_layer(layer)
    if layer is None:
      if not self.shared_variables:
        raise UserError(
            f"model {self.model.name} has no shared variables, so no last "
            "shared layer for gradient-norm methods (GradNorm); pass watch=")
      shared = {id(v) for v in self.shared_variables}
      layer = infer.last_shared_layer(self.model, shared)
      if layer is None:
        raise UserError(
            f"model {self.model.name}: no layer holds only shared variables, "
            "so the last shared layer can't be inferred; pass watch=LAYER")
    return list(layer.trainable_variables)

  def check_representation(self) -> None:
    """Raises the UserError that says why there is no representation."""
    if self._representation is None:
      self._find_cut()

  @property
  def has_representation(self) -> bool:
    """Whether the model's shared representation is known: given as
    `representation=`, or found as the cut between the shared part of a
    functional model and its heads.
    """
    if self._representation is not None:
      return True
    try:
      self._find_cut()
      return True
    except UserError:
      return False

  def _find_cut(self):
    if self._cut is None:
      if not infer.is_functional(self.model):
        says_why = getattr(self.model, "call_split", None)
        if says_why is not None:
          says_why(None, False)  # a tfmtl model that has none says why
        raise UserError(
            f"model {self.model.name} ({type(self.model).__name__}) is not "
            "functional, so its shared representation can't be read from a "
            "graph: pass TaskSplit(model, representation=fn) with fn(inputs, "
            "training) -> (Z, heads)")
      self._cut = infer.representation_cut(
          self.model, self.task_names,
          {id(v) for v in self.shared_variables})
    return self._cut

  def call_split(self, inputs, training=False):
    """(Z, heads): the shared representation and the map to the outputs."""
    if self._representation is not None:
      return self._representation(inputs, training)
    return self._find_cut().split(inputs, training)

  def __call__(self, inputs, training=False):
    return self.model(inputs, training=training)


def _all_outputs(model):
  outputs = getattr(model, "_outputs_struct", None)
  if infer.is_functional(model) and isinstance(outputs, dict):
    return list(outputs)
  raise UserError(
      f"model {model.name}: name the tasks — TaskSplit(model, tasks=[...]) — "
      "or make it a functional model returning a dict keyed by task name")


def _check_partition(model, shared, own):
  owner = {}
  for group, variables in [("shared", shared)] + list(own.items()):
    for v in variables:
      if id(v) in owner:
        raise UserError(f"model {model.name}: variable {v.path} is in both "
                        f"{owner[id(v)]!r} and {group!r}")
      owner[id(v)] = group


def resolve(model, tasks: Sequence[str], input_spec=None) -> TaskSplit:
  """A TaskSplit for `tasks` from a TaskSplit, a tfmtl model or any model."""
  tasks = list(tasks)
  if isinstance(model, TaskSplit):
    missing = [t for t in tasks if t not in model.task_names]
    if missing:
      raise UserError(f"tasks {missing} are not in the split of model "
                      f"{model.model.name} (it has {model.task_names})")
    return model
  explicit = getattr(model, "task_split", None)
  if callable(explicit):
    return explicit(tasks)
  if not isinstance(model, keras.Model):
    raise UserError(f"{type(model).__name__} is not a keras.Model; tfmtl "
                    "trains Keras models whose call returns a dict keyed by "
                    "task name")
  if infer.is_functional(model):
    infer.output_tensors(model, [])  # raises if the outputs are no dict
    outputs = list(model._outputs_struct)  # pylint: disable=protected-access
    missing = [t for t in tasks if t not in outputs]
    if missing:
      raise UserError(f"tasks {missing} are not outputs of model "
                      f"{model.name} (it outputs {outputs})")
  return TaskSplit(model, input_spec=input_spec, tasks=tasks)
