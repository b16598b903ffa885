"""The base class of the models tfmtl ships.

Users never need it: any Keras model returning a dict keyed by task name
trains with tfmtl (models/split.py infers the split). The shipped models say
their split explicitly instead: which trainable variables are shared by all
tasks and which belong to one task (`task_split`). Methods that work on gradients read the split; a
test checks it is a partition and that a task's loss has no gradient on other
tasks' variables.
"""

from typing import Any, Callable, Dict, List, Sequence, Tuple

import keras

from tfmtl.errors import UserError
from tfmtl.models.infer import dedupe


class MultiTaskModel(keras.Model):
  """Base class: subclasses build layers and fill the two groups.

  Subclasses call `self._register(shared=[...], per_task={name: [...]})` with
  layers (or nested models) in their constructor. `last_shared_layer` is the
  layer whose weights gradient-norm methods (GradNorm) watch; by default the
  last shared layer registered that owns a kernel.

  A model whose task heads read only a shared representation Z (hard
  sharing: trunk, then heads) implements `call_split`; `call` is then
  heads(Z) and methods on the representation (MGDA-UB) can use it. Other
  models override `call` instead.
  """

  def _register(self, shared: Sequence[keras.Layer],
                per_task: Dict[str, Sequence[keras.Layer]]):
    self._shared_layers = list(shared)
    self._task_layers = {k: list(v) for k, v in per_task.items()}

  def _trackable_children(self, save_type="checkpoint", **kwargs):
    """Adds every variable, so tf.train.Checkpoint saves all of them.

    Keras 3 layers kept in Python lists or dicts of a subclassed model are
    invisible to TensorFlow's object tracking: without this, a checkpoint of
    the model silently holds none of their weights (measured with Keras
    3.15). Keys are positions in `self.variables` (creation order, fixed by
    the architecture), not paths: paths carry per-process name counters
    ("model_1", "seed_generator_3"). Variables reached twice are saved once.
    """
    children = super()._trackable_children(save_type, **kwargs)
    if save_type == "checkpoint":
      for i, v in enumerate(self.variables):
        children[f"variables/{i}"] = v
    return children

  def call_split(self, inputs, training=False
                 ) -> Tuple[Any, Callable[[Any], Dict[str, Any]]]:
    """(Z, heads): the shared representation and the map from it to outputs.

    Z is a nested structure of every tensor the task heads read and
    `heads(Z)` returns the outputs dict, so `call(x) == heads(Z)`. The heads
    read no shared variable: every shared variable reaches the losses only
    through Z, so for any task weights α
        Σ_t α_t ∇_θ L_t = (∂Z/∂θ)ᵀ Σ_t α_t ∇_Z L_t,
    the chain rule MGDA-UB relies on (tests/models check it per model).
    """
    del inputs, training
    raise UserError(
        f"model {self.name} ({type(self).__name__}) has no single shared "
        "representation that its task heads read (its tasks branch off "
        "inside the shared layers); methods on the representation need a "
        "hard-sharing model such as hard_sharing, hard_sharing_conv, segnet "
        "(form='split'), dual_encoder or pose_flow")

  @property
  def has_representation(self) -> bool:
    """Whether `call_split` gives the shared representation."""
    return type(self).call_split is not MultiTaskModel.call_split

  def call(self, inputs, training=False):
    """{task: output}: the heads applied to the shared representation."""
    representation, heads = self.call_split(inputs, training=training)
    return heads(representation)

  @property
  def task_names(self) -> List[str]:
    """The tasks the model has a head for, in the order they were given."""
    return list(self._task_layers)

  @property
  def shared_variables(self) -> List[keras.Variable]:
    """Trainable variables every task's output depends on."""
    return dedupe(v for l in self._shared_layers
                   for v in l.trainable_variables)

  def task_variables(self, task: str) -> List[keras.Variable]:
    """Trainable variables only `task`'s output depends on."""
    return dedupe(v for l in self._task_layers[task]
                   for v in l.trainable_variables)

  def task_split(self, tasks=None):
    """The explicit `TaskSplit` of this model (what the train step reads).

    A tfmtl model says its split itself rather than have it inferred; it is
    then the same kind of thing as any Keras model wrapped in a TaskSplit.
    """
    from tfmtl.models.split import TaskSplit  # pylint: disable=g-import-not-at-top
    tasks = list(tasks or self.task_names)
    missing = [t for t in tasks if t not in self._task_layers]
    if missing:
      raise UserError(f"tasks {missing} are not outputs of model {self.name} "
                      f"(it outputs {self.task_names})")
    return TaskSplit(
        self, shared=self.shared_variables,
        per_task={t: self.task_variables(t) for t in tasks},
        representation=self.call_split if self.has_representation else None,
        watch=self.last_shared_layer if self._shared_layers else None,
        tasks=tasks)

  @property
  def last_shared_layer(self) -> keras.Layer:
    """The shared layer nearest the heads that has a kernel (else the
    last shared layer): the layer GradNorm-style methods watch.
    """
    for layer in reversed(self._shared_layers):
      if getattr(layer, "kernel", None) is not None:
        return layer
    return self._shared_layers[-1]
