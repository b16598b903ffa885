"""A task: what the network predicts under one name, and how it is scored."""

import dataclasses
from typing import Callable, Mapping, Optional, Sequence

import tensorflow as tf

from tfmtl import losses as losses_lib
from tfmtl.errors import UserError

ROLES = ("main", "aux")


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
  """
  name: str
  loss: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
  weight: float = 1.0
  role: str = "main"
  kpi: Optional[Callable[[tf.Tensor, tf.Tensor], tf.Tensor]] = None
  missing: Optional[str] = None

  def __post_init__(self):
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
    weight = float(spec.pop("weight", 1.0))
    role = spec.pop("role", "main")
    missing = spec.pop("missing", None) or None
    fn = losses_lib.get(loss_name)
    if spec:
      fn = _bind(fn, spec)
    out.append(Task(name=name, loss=fn, weight=weight, role=role,
                    missing=missing))
  if not out:
    raise UserError("config.tasks is empty: name at least one task")
  return out


def _bind(fn, kwargs):
  def bound(y_true, y_pred):
    return fn(y_true, y_pred, **kwargs)
  bound.__name__ = fn.__name__
  return bound


def weights(tasks: Sequence[Task]) -> tf.Tensor:
  """The configured weights as a float32 [T] tensor."""
  return tf.constant([t.weight for t in tasks], tf.float32)
