"""The data contract between a batch and the tasks, checked where it breaks.

A batch is `(inputs, labels)` or `(inputs, labels, sample_weights)`:

- `labels` is a dict {task: label} with every trained task's key (a data
  source may carry labels of other tasks too; a user's own dataset given to
  `Trainer.fit` may not: an extra key is usually a misspelt task);
- a task's label fits its output: one class id per example (or pixel) for
  `sparse_ce` / SparseCategoricalCrossentropy, the output's shape for
  one-hot cross-entropy, as many values as the output for binary and
  regression losses (a user's own loss function is not checked);
- sample weights are {task: [B]} (or one [B] array for every task, as Keras
  takes it), finite and ≥ 0 (0 = unlabelled).

Structure and shapes are checked from static shapes -- an element spec, a
first batch, or while the step traces -- so a mistake is one line naming the
task, what was given and what is expected, before the first update. Weight
*values* can only be checked as the step runs: `assert_weights` fails the
step with a message `tfmtl.errors.from_op_error` turns back into that line.
"""

import math
from typing import Mapping, Optional, Sequence

import tensorflow as tf

from tfmtl.errors import DATA_ERROR, UserError


def _names(tasks) -> list:
  return [t.name for t in tasks]


def _shape(x) -> Optional[list]:
  """The static shape as a list (None entries unknown); None when even the
  rank is unknown."""
  shape = getattr(x, "shape", None)
  if shape is None:
    return []
  shape = tf.TensorShape(shape)
  return shape.as_list() if shape.rank is not None else None


def show(shape) -> str:
  """[B, 10] for a [None, 10] shape."""
  dims = list(shape)
  return "[" + ", ".join("B" if i == 0 else "?" if d is None else str(d)
                         for i, d in enumerate(dims)) + "]"


def check_labels(tasks, labels, extra_ok: bool = True) -> None:
  """`labels` is a dict holding every task's label (`extra_ok`: and maybe
  others)."""
  names = _names(tasks)
  if labels is None:
    raise UserError(f"the data gives no labels: give batches (inputs, "
                    f"{{task: label}}) with keys {names}")
  if not isinstance(labels, Mapping):
    kind = type(labels).__name__
    hint = (" (a tuple or list of labels: give (inputs, {'task': label, "
            "...}) so each label is matched to its task by name)"
            if isinstance(labels, (tuple, list)) else "")
    raise UserError(f"labels must be a dict {{task: label}} with keys "
                    f"{names}; got a {kind}{hint}")
  missing = [n for n in names if n not in labels]
  extra = sorted(str(k) for k in labels if k not in names)
  if missing:
    also = (f"; it has {extra}, which are no task's: a misspelt name?"
            if extra else f"; it has {sorted(map(str, labels))}")
    raise UserError(f"the labels lack task(s) {missing}{also} (tasks: "
                    f"{names})")
  if extra and not extra_ok:
    raise UserError(
        f"labels {extra} belong to no task (tasks: {names}): drop them from "
        "the data, e.g. ds.map(lambda x, y: (x, {t: y[t] for t in "
        f"{names}}})), or add the task")


def per_task_weights(tasks, weights) -> Optional[dict]:
  """{task: weights} from a dict, or from one array meant for every task
  (Keras takes a single `sample_weight` for all outputs); None stays."""
  if weights is None or isinstance(weights, Mapping):
    return weights
  if isinstance(weights, (tuple, list)):
    raise UserError(
        f"sample weights must be a dict {{task: [B] weights}} (or one [B] "
        f"array for every task); got a {type(weights).__name__} of "
        f"{len(weights)}: key them by task name ({_names(tasks)})")
  return {t.name: weights for t in tasks}


def check_weights(tasks, weights) -> None:
  """Sample weights name tasks and give one weight per example."""
  if weights is None:
    return
  unknown = sorted(str(k) for k in weights if k not in _names(tasks))
  if unknown:
    raise UserError(f"sample weights for {unknown}, which are not tasks "
                    f"being trained ({_names(tasks)})")
  for name, w in weights.items():
    shape = _shape(w)
    if shape is not None and len(shape) > 2 or (len(shape) == 2 and shape[1] not in (1, None)):
      raise UserError(
          f"sample weights of task {name!r} have shape {show(shape)}: give "
          "one weight per example, [B] (or [B, 1])")


def label_problem(task, output_shape: Sequence, label_shape: Sequence,
                  batch: bool = True) -> Optional[str]:
  """Why a label of `label_shape` can't train `task`'s output of
  `output_shape` (None if it can, or if the loss is the user's own);
  `batch=False` leaves the batch axes out (an output of a probe batch)."""
  if output_shape is None or label_shape is None:
    return None
  out, lab = list(output_shape), list(label_shape)
  if batch and out and lab and None not in (out[0], lab[0]) and \
      out[0] != lab[0]:
    return f"{lab[0]} labels for a batch of {out[0]} outputs"
  family = task.family
  if family is None or len(out) < 1:
    return None

  def count(dims):
    return None if any(d is None for d in dims) else math.prod(dims)
  if family == "categorical":
    want, got = count(out[1:-1]), count(lab[1:])
    if None not in (want, got) and want != got:
      per = "example" if len(out) == 2 else "pixel"
      form = show(out[:-1]) + (f" or {show(out[:-1] + [1])}")
      return (f"its cross-entropy wants one class id per {per}, {form}, "
              f"and the output's last axis ({out[-1]}) for the classes")
    return None
  want, got = count(out[1:]), count(lab[1:])
  if None not in (want, got) and want != got:
    what = {"categorical_onehot": "a one-hot label of the output's shape",
            "binary": "a 0/1 label per output value",
            "binary_probs": "a 0/1 label per output value"}.get(
                family, "a label of the output's shape")
    return f"its {family} loss wants {what}"
  return None


def check_shapes(tasks, outputs, labels, weights=None,
                 batch: bool = True) -> None:
  """Each task's label fits its output (see `label_problem`) and its
  weights are one per example."""
  for t in tasks:
    out, lab = _shape(outputs[t.name]), _shape(labels[t.name])
    problem = label_problem(t, out, lab, batch)
    if problem:
      raise UserError(f"task {t.name!r}: labels {show(lab)} for an output "
                      f"{show(out)}: {problem}")
  check_weights(tasks, weights)


def check_loss_output(task, values) -> None:
  """A task's loss gives one value per example."""
  shape = _shape(values)
  if shape is not None and len(shape) != 1:
    raise UserError(
        f"task {task.name!r}: its loss returned shape {show(shape) if shape else '[] (a scalar)'}; "
        "a task's loss must give one value per example, [B] (tfmtl.losses "
        "and Keras losses given by name or object are taken per example; a "
        "function of your own must not reduce over the batch)")


def assert_weights(name: str, w: tf.Tensor) -> tf.Tensor:
  """`w` once it is checked to be finite and ≥ 0 (the step fails with a
  DATA_ERROR line otherwise: a negative weight would cancel labelled ones,
  a NaN one would skip the batch)."""
  ok = tf.reduce_all(tf.logical_and(tf.math.is_finite(w), w >= 0))
  check = tf.debugging.Assert(ok, [
      f"{DATA_ERROR}task {name!r}: sample weights must be finite and >= 0 "
      "(0 = unlabelled); this batch has a negative, NaN or infinite one"])
  with tf.control_dependencies([check]):
    return tf.identity(w)
