"""A task: what the network predicts under one name, and how it is scored."""

import dataclasses
from typing import Callable, Mapping, Optional, Sequence

import tensorflow as tf

from tfmtl import losses as losses_lib
from tfmtl.errors import UserError, guard

ROLES = ("main", "aux")
"""A task's roles: "main" (reported) or "aux" (trained to guide the
shared layers).
"""


@dataclasses.dataclass(frozen=True)
class Task:
  """One task of a multi-task network.

  Attributes:
    name: key of the model output and of the label dict.
    loss: per-example loss, (y_true, y_pred) -> [B].
    weight: loss weight w_t used by methods that take configured weights.
    role: "main" or "aux" (auxiliary tasks only guide the shared layers).
    kpi: optional (y_true, y_pred) -> scalar in [0, 1], higher is better
      (Dynamic Task Prioritization reads it).
    missing: "nan" makes an example whose label holds a NaN unlabelled for
      this task (weight 0; see engine/forward.py); None treats a NaN label
      as a fault (the step is skipped and reported).
    family: what the loss trains (`tfmtl.losses.FAMILIES`: "categorical",
      "binary", "regression", ...); found from the loss when it is a tfmtl
      or Keras loss, None for a user's own function. Metrics and the
      methods whose rule depends on it read this, never the name.
    kind: the metrics to report (`tfmtl.kinds.KINDS`); None: from the
      family and the output's shape (tfmtl/kinds.py).

  `loss` may also be a tfmtl loss name or a Keras loss (name or object):
  it is turned into the per-example function. A classification or binary
  task without a `kpi` gets its accuracy on the batch as KPI.
  """
  name: str
  loss: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
  weight: float = 1.0
  role: str = "main"
  kpi: Optional[Callable[[tf.Tensor, tf.Tensor], tf.Tensor]] = None
  missing: Optional[str] = None
  family: Optional[str] = None
  kind: Optional[str] = None

  def __post_init__(self):
    if isinstance(self.loss, str) or hasattr(self.loss, "call"):
      fn, fam = losses_lib.per_example(self.loss)
      object.__setattr__(self, "loss", fn)
      if self.family is None:
        object.__setattr__(self, "family", fam)
    elif self.family is None:
      object.__setattr__(self, "family", losses_lib.family(self.loss))
    # (None: a task that only names a slot, to build a method on.)
    if self.loss is not None and not callable(self.loss):
      raise UserError(f"task {self.name!r}: loss {self.loss!r} is not a "
                      "tfmtl loss name, a Keras loss or a function (y_true, "
                      "y_pred) -> per-example losses")
    if self.family is not None and self.family not in losses_lib.FAMILIES:
      raise UserError(f"task {self.name!r}: family {self.family!r} is not "
                      f"one of {', '.join(losses_lib.FAMILIES)}")
    if self.kind is not None:
      from tfmtl import kinds  # pylint: disable=g-import-not-at-top
      kinds.check_name(self.kind, f"task {self.name!r}: kind")
    if self.kpi is None and self.family in _ACCURACY:
      object.__setattr__(self, "kpi", _ACCURACY[self.family])
    if not isinstance(self.weight, (int, float)) or isinstance(
        self.weight, bool) or not self.weight >= 0 or \
        self.weight == float("inf"):
      raise UserError(f"task {self.name!r}: weight {self.weight!r} must be "
                      "a finite number >= 0")
    if self.role not in ROLES:
      raise UserError(
          f"task {self.name!r}: role {self.role!r} is not one of {ROLES}")
    if self.missing not in (None, "nan"):
      raise UserError(f"task {self.name!r}: missing={self.missing!r}; use "
                      "'nan' (NaN labels are unlabelled) or leave it out")


def from_config(tasks_config: Mapping[str, Mapping]) -> Sequence[Task]:
  """Builds tasks from `{name: {loss, weight, role, ...}}` (config.tasks).

  Extra keys are passed to the loss function as keyword arguments.
  """
  out = []
  for name, spec in tasks_config.items():
    spec = dict(spec)
    loss_name = spec.pop("loss", "mse")
    weight = spec.pop("weight", 1.0)
    role = spec.pop("role", "main")
    missing = spec.pop("missing", None) or None
    if not isinstance(loss_name, str):
      raise UserError(f"config.tasks.{name}.loss = {loss_name!r}: name a "
                      f"loss ({', '.join(losses_lib.LOSSES.names())}) or "
                      "package.module:function")
    try:
      fn, fam = losses_lib.per_example(loss_name)
    except UserError as e:
      raise UserError(f"config.tasks.{name}.loss: {e}") from None
    if spec:
      fn = _bind(fn, spec)
    if ":" in loss_name:  # a user's loss: which one raised, if one does
      fn = guard(fn, f"loss {loss_name!r} of task {name!r}")
    out.append(Task(name=name, loss=fn, weight=weight, role=role,
                    missing=missing, family=fam))
  if not out:
    raise UserError("config.tasks is empty: name at least one task")
  return out


def _accuracy_of_ids(y_true, y_pred):
  """Fraction of labelled examples (pixels) whose argmax is the label; an
  ignore id (negative or ≥ classes) is unlabelled."""
  classes = tf.shape(y_pred)[-1]
  label = tf.reshape(tf.cast(y_true, tf.int32), tf.shape(y_pred)[:-1])
  valid = tf.logical_and(label >= 0, label < classes)
  hit = tf.equal(tf.argmax(y_pred, -1, output_type=tf.int32), label)
  return tf.math.divide_no_nan(
      tf.reduce_sum(tf.cast(tf.logical_and(hit, valid), tf.float32)),
      tf.reduce_sum(tf.cast(valid, tf.float32)))


def _accuracy_of_onehot(y_true, y_pred):
  return tf.reduce_mean(tf.cast(tf.equal(
      tf.argmax(y_pred, -1), tf.argmax(y_true, -1)), tf.float32))


def _binary_accuracy(threshold):
  def accuracy(y_true, y_pred):
    y = tf.reshape(tf.cast(y_true, y_pred.dtype), tf.shape(y_pred))
    return tf.reduce_mean(tf.cast(tf.equal(y > 0.5, y_pred > threshold),
                                  tf.float32))
  return accuracy


# Default KPIs (DTP): accuracy on the batch, for the families that have one.
_ACCURACY = {"categorical": _accuracy_of_ids,
             "categorical_onehot": _accuracy_of_onehot,
             "binary": _binary_accuracy(0.0),
             "binary_probs": _binary_accuracy(0.5)}


def _bind(fn, kwargs):
  def bound(y_true, y_pred):
    return fn(y_true, y_pred, **kwargs)
  bound.__name__ = fn.__name__
  return bound


def weights(tasks: Sequence[Task]) -> tf.Tensor:
  """The configured weights as a float32 [T] tensor."""
  return tf.constant([t.weight for t in tasks], tf.float32)
