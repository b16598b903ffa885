"""What kind of prediction a task makes, and so which metrics score it.

A task's kind follows from what it is -- its loss (`Task.family`) and the
shape of its output -- never from its name:

  family         output            kind            metrics
  categorical    [B, C]            classification  accuracy (+ top5_accuracy
                                                   when C > 5)
  categorical    [B, ..., C]       segmentation    miou, pixel_accuracy, iou
  binary         [B] / [B, K]      binary          accuracy, auc (per label
                                                   too when K > 1)
  regression     any               regression      mae, rmse, mse
  depth          [B, H, W(, 1)]    depth           abs, abs_rel (ARD), rmse,
                                                   δ < 1.25^k, ...
  normal         [B, H, W, 3]      normal          mean / median angle,
                                                   % within 11.25°, 22.5°, 30°
  flow           [B, H, W, 2]      flow            epe (end-point error)

(`categorical_onehot` and `binary_probs` -- Keras' CategoricalCrossentropy,
BinaryCrossentropy -- give the same kinds.) A user's own loss function has
no family; its kind is read from the data: integer labels against a class
axis are classification / segmentation, a label with as many values as the
output a regression, anything else `loss` (the loss alone). Every task also
reports the mean of its loss. `motion` is segmentation over two classes
named static / moving (seed 001's motion task).

`Task.kind` or `config.eval_metrics[task]` names the kind instead; a kind
that can't score the output (segmentation of per-example logits, binary
metrics of a 10-class output) is refused before the first step, naming the
task, its output shape and the kinds that fit.
"""

import math
from typing import Optional, Sequence

from tfmtl.errors import UserError

KINDS = {
    "classification": "accuracy (+ top5_accuracy with more than 5 classes) "
                      "of [B, C] logits against class ids (or one-hot)",
    "segmentation": "miou, pixel_accuracy and per-class iou of [B, ..., C] "
                    "logits against per-pixel class ids",
    "motion": "segmentation over 2 classes named static / moving",
    "binary": "accuracy and auc of [B] / [B, K] logits (or probabilities) "
              "against 0/1 labels, per label too when K > 1",
    "regression": "mae, rmse, mse against a label of the output's shape",
    "depth": "depth errors (abs, abs_rel, rmse, δ < 1.25^k) over pixels with "
             "a positive label",
    "normal": "angular errors of [..., 3] normals (mean, median, within "
              "11.25°, 22.5°, 30°)",
    "flow": "end-point error of [..., 2] flow",
    "loss": "the task's loss only",
}
"""{kind: the metrics it reports, and of what output}."""
_FROM_FAMILY = {"regression": "regression", "depth": "depth",
                "normal": "normal", "flow": "flow", "binary": "binary",
                "binary_probs": "binary"}


def check_name(kind: str, what: str = "kind") -> str:
  """`kind` when it is a known kind (`KINDS`), else a UserError naming
  `what` and the known kinds.
  """
  if kind not in KINDS:
    raise UserError(f"{what} {kind!r} is not a kind of task; known: "
                    f"{', '.join(KINDS)}")
  return kind


def _per_example(shape) -> Optional[int]:
  """Elements per example of a [B, ...] shape (None if not all known)."""
  dims = list(shape)[1:]
  if any(d is None for d in dims):
    return None
  return math.prod(dims)


def _fits(kind, out, label, label_int) -> Optional[str]:
  """Why `kind` can't score an output of shape `out` against labels of
  shape `label` (None if it can). Shapes are [B, ...] lists, None unknown."""
  rank, classes = len(out), (out[-1] if len(out) > 1 else None)
  same = (_per_example(out) is None or _per_example(label) is None or
          _per_example(out) == _per_example(label))
  if kind in ("classification", "segmentation", "motion"):
    if kind == "classification" and rank != 2:
      return "classification needs per-example logits [B, C]"
    if kind != "classification" and rank < 3:
      return f"{kind} needs per-pixel logits [B, H, W, C]"
    if classes is not None and classes < 2:
      return f"{kind} needs a class axis of 2 or more (it has {classes})"
    if kind == "motion" and classes not in (None, 2):
      return f"motion needs 2 classes (the output has {classes})"
    ids = (_per_example(label) is None or _per_example(out) is None or
           _per_example(label) * (classes or 1) == _per_example(out))
    onehot = same and not label_int
    if not (ids or onehot):
      return (f"{kind} needs a class id per "
              f"{'example' if rank == 2 else 'pixel'} (or a one-hot label)")
    return None
  if kind == "normal" and classes not in (None, 3):
    return "normal needs [..., 3] normals"
  if kind == "flow" and classes not in (None, 2):
    return "flow needs [..., 2] flow"
  if kind in ("binary", "regression", "depth", "normal", "flow") and not same:
    return f"{kind} needs a label with as many values as the output"
  return None


def resolve(task, output_shape: Sequence, label_shape: Sequence,
            label_int: bool = False, override: Optional[str] = None) -> str:
  """The kind of `task` for an output of `output_shape` ([B, ...]) and
  labels of `label_shape`; `override` (config.eval_metrics) or `task.kind`
  wins, but must fit the output (else a UserError naming what fits)."""
  out, label = list(output_shape), list(label_shape)
  given = override or task.kind
  if given:
    check_name(given, f"task {task.name!r}: kind")
    problem = _fits(given, out, label, label_int)
    if problem:
      fits = [k for k in KINDS if _fits(k, out, label, label_int) is None]
      raise UserError(
          f"task {task.name!r}: kind {given!r} can't score its output "
          f"{_shape(out)} against labels {_shape(label)}: {problem}; kinds "
          f"that fit: {', '.join(fits)}")
    return given
  family = task.family
  if family in ("categorical", "categorical_onehot") or (
      family is None and label_int and len(out) > 1 and
      (out[-1] or 0) > 1):
    kind = "classification" if len(out) == 2 else "segmentation"
    return kind if _fits(kind, out, label, label_int) is None else "loss"
  kind = _FROM_FAMILY.get(family, "regression")
  return kind if _fits(kind, out, label, label_int) is None else "loss"


def summary(kind: str, output_shape: Sequence) -> str:
  """"classification, 10 classes" and the like, for start-up lines."""
  out = list(output_shape)
  if kind in ("classification", "segmentation") and len(out) > 1:
    return f"{kind}, {out[-1]} classes"
  if kind == "binary" and len(out) > 1 and (out[-1] or 1) > 1:
    return f"binary, {out[-1]} labels"
  return kind


def _shape(shape) -> str:
  return "[" + ", ".join("B" if i == 0 else ("?" if d is None else str(d))
                         for i, d in enumerate(shape)) + "]"
