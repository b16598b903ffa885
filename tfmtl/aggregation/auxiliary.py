"""What the auxiliary-task methods share: roles, layers, per-layer sums.

ATG, PRF, the cosine gate, aux_project and MetaBalance all split the tasks
into main tasks (their gradients enter with their configured weights) and
auxiliary tasks (their gradients on the shared layers are gated, scaled or
projected). Several decide per layer: the shared variables J's columns are
flattened from are grouped into layers (kernel + bias of one Dense or Conv),
and `segment_ids` maps each column to its layer.
"""

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfmtl.aggregation.base import Aggregator, state
from tfmtl.errors import UserError


def layer_segments(shared_variables) -> List[Tuple[str, int]]:
  """[(name, size)] of consecutive shared variables grouped by layer.

  Names are the layers' short names when those are unique, else their
  paths.
  """
  segments = []
  for v in shared_variables:
    layer = v.path.rsplit("/", 1)[0] if "/" in v.path else v.path
    size = int(tf.size(v))
    if segments and segments[-1][0] == layer:
      segments[-1][1] += size
    else:
      segments.append([layer, size])
  short = [s[0].split("/")[-1] for s in segments]
  if len(set(short)) == len(short):
    for s, name in zip(segments, short):
      s[0] = name
  return [tuple(s) for s in segments]


class AuxiliaryAggregator(Aggregator):
  """Base of methods that treat tasks by role (main / aux), per layer.

  After `build`: `self.mains` (indices of main tasks), `self.aux` (indices
  of auxiliary tasks), `self.segments` ([(layer, size)], one "shared"
  segment when the shared variables are not given) and `self.ids` (the
  layer of each of J's columns, or None until the number of columns is
  known).
  """

  def build(self, tasks: Sequence, num_params: Optional[int] = None,
            shared_variables: Optional[Sequence] = None) -> None:
    super().build(tasks, num_params, shared_variables)
    self.mains = [i for i, r in enumerate(self.roles) if r == "main"]
    self.aux = [i for i, r in enumerate(self.roles) if r == "aux"]
    if not self.mains:
      raise UserError(f"{self.name} needs a task with role 'main'; set the "
                      "role of the main task (e.g. tasks.rot.role='main')")
    if not self.aux:
      raise UserError(f"{self.name} needs at least one task with role 'aux' "
                      "(e.g. tasks.flow.role='aux'); without one use 'atg'")
    if shared_variables:
      self.segments = layer_segments(shared_variables)
    elif num_params is not None:
      self.segments = [("shared", int(num_params))]
    else:
      self.segments = None
    self.ids = None
    if self.segments:
      self.ids = tf.constant(np.repeat(
          np.arange(len(self.segments)), [s for _, s in self.segments]),
                             tf.int32)

  @property
  def num_layers(self) -> int:
    return len(self.segments) if self.segments else 1

  def layer_names(self) -> List[str]:
    return [n for n, _ in self.segments] if self.segments else ["shared"]

  def _ids_for(self, x):
    return self.ids if self.ids is not None else tf.zeros_like(x, tf.int32)

  def layer_sum(self, x: tf.Tensor) -> tf.Tensor:
    """[n] -> [L]: the sum of x over each layer's columns."""
    return tf.math.unsorted_segment_sum(x, self._ids_for(x), self.num_layers)

  def layer_mean(self, x: tf.Tensor) -> tf.Tensor:
    """[n] -> [L]: the mean of x over each layer's columns."""
    return tf.math.unsorted_segment_mean(x, self._ids_for(x),
                                         self.num_layers)

  def to_columns(self, per_layer: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """[L] -> [n]: each column gets its layer's value."""
    return tf.gather(per_layer, self._ids_for(like))

  def main_gradient(self, J: tf.Tensor, w: tf.Tensor,
                    present: Optional[tf.Tensor] = None) -> tf.Tensor:
    """Σ_{t ∈ main} w_t g_t (over the present main tasks with `present`)."""
    is_main = tf.constant([r == "main" for r in self.roles], J.dtype)
    if present is not None:
      is_main = is_main * tf.cast(present, J.dtype)
    return tf.linalg.matvec(J, w * is_main, transpose_a=True)

  def main_present(self, present: tf.Tensor) -> tf.Tensor:
    """Scalar bool: some main task is present."""
    return tf.reduce_any(tf.gather(present, self.mains))

  def per_layer_logs(self, prefix: str,
                     values: tf.Tensor) -> Dict[str, tf.Tensor]:
    """{prefix/<layer>: values[k, j]} (prefix/<aux>/<layer> with several
    auxiliary tasks) from values [A, L]."""
    out = {}
    for k, a in enumerate(self.aux):
      head = (f"{prefix}/" if len(self.aux) == 1 else
              f"{prefix}/{self.task_names[a]}/")
      for j, name in enumerate(self.layer_names()):
        out[head + name] = values[k, j]
    return out

  def log_state(self, name: str) -> tf.Variable:
    """A [A, L] variable for per-layer logs."""
    return state(tf.zeros([len(self.aux), self.num_layers]), name)


class GatedAuxiliary(AuxiliaryAggregator):
  """Base of the auxiliary methods that gate each auxiliary gradient per
  shared layer (the cosine gate, aux_project): `per_layer` chooses layers
  or one gate over all shared variables; the gates and the cosines of the
  last call are logged as `gate/<layer>` and `cos/<layer>`."""

  per_layer: bool = True

  def build(self, tasks: Sequence, num_params: Optional[int] = None,
            shared_variables: Optional[Sequence] = None) -> None:
    super().build(tasks, num_params,
                  shared_variables if self.per_layer else None)
    self._gates = self.log_state("gates")
    self._cosines = self.log_state("cosines")

  def record(self, gates, cosines) -> None:
    """Keeps the call's [A, L] gates and cosines for `logs`."""
    self._gates.assign(tf.stack(gates))
    self._cosines.assign(tf.stack(cosines))

  def logs(self) -> Dict[str, tf.Tensor]:
    out = self.per_layer_logs("gate", self._gates)
    out.update(self.per_layer_logs("cos", self._cosines))
    return out
