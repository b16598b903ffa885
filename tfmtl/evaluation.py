"""Evaluation of a trained model: per-task metrics over a split.

Which metrics a task gets follows from its kind -- from its loss and the
shape of its output (tfmtl/kinds.py), never from its name; each kind's
metrics are in tfmtl/metrics/task_metrics.py. `config.eval_metrics[task]`
names another kind (checked against the output before anything runs):

  classification  accuracy (+ top5_accuracy when there are more than 5
                  classes) of [B, C] logits against class ids
  segmentation    mIoU, pixel accuracy, per-class IoU
  motion          segmentation over static / moving
  binary          accuracy, AUC (per label too when there are several)
  regression      mae, rmse, mse (and mae_units, MAE × the source's
                  `label_std[task]`, when a source normalises its labels)
  depth           depth errors (abs_rel = ARD, rmse, δ < 1.25^k, ...), range
                  from `config.eval_depth_range` (seed 001: 3–80 m)
  normal          mean / median angular error, % within 11.25°, 22.5°, 30°
  flow            end-point error in pixels
  loss            the loss only

Every task also reports the mean of its loss, over its labelled examples
(sample weights of an eval dataset and NaN labels of a `missing="nan"`
task count as unlabelled). Sources of ordered trajectories that name their
odometry tasks (`odometry_tasks`, KITTI) add the KITTI trajectory metric
(see `OdometryCollector`).
"""

import json
import math
import os
import sys
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

from tfmtl import kinds as kinds_lib
from tfmtl import metrics as metrics_lib
from tfmtl.engine.forward import float32, label_weights
from tfmtl.errors import UserError
from tfmtl.metrics.task_metrics import HEADLINE, HIGHER_IS_BETTER  # noqa: F401  (public here)
from tfmtl.metrics.task_metrics import TaskMetrics, headline_of

KINDS = tuple(kinds_lib.KINDS)
"""The kinds of task eval.py scores (`tfmtl.kinds.KINDS`' names)."""


def _first_batch(ds, what: str):
  for batch in ds.take(1):
    return batch
  raise UserError(f"{what} has no examples: check the data (a data "
                  "function's split, a filter that keeps nothing) or "
                  "evaluate another split (config.eval_split, eval.py "
                  "--split)")


def _split_of(split: str, names=None) -> str:
  """"split 'test'", or "split 'test' of the source of task(s) [...]" for
  one source of per-task datasets."""
  return f"split {split!r}" + (f" of the source of task(s) {list(names)}"
                               if names is not None else "")


def _is_int(label) -> bool:
  return tf.as_dtype(label.dtype).is_integer


def resolve_kinds(tasks, outputs, labels, eval_metrics=None) -> Dict[str, str]:
  """{task: kind} for a batch's (or specs') outputs and labels;
  `eval_metrics` {task: kind} overrides (names of tasks not trained here
  are ignored: a config may serve several single-task runs)."""
  overrides = dict(eval_metrics or {})
  return {t.name: kinds_lib.resolve(
      t, tuple(outputs[t.name].shape), tuple(labels[t.name].shape),
      _is_int(labels[t.name]), overrides.get(t.name)) for t in tasks}


def task_kinds(model, tasks, source, split: str,
               eval_metrics=None) -> Dict[str, str]:
  """{task: kind} of `model`'s tasks on `split` of `source` (one forward
  pass on two examples; per-task datasets source by source)."""
  if hasattr(source, "task_sources"):
    out = {}
    for part, names in source.task_sources():
      mine = [t for t in tasks if t.name in names]
      if mine:
        out.update(task_kinds(model, mine, part, split, eval_metrics))
    return out
  batch = _first_batch(source.dataset(split, 2, drop_remainder=False),
                       f"split {split!r}")
  outputs = model(batch[0], training=False)
  return resolve_kinds(tasks, outputs, batch[1], eval_metrics)


def evaluate(model, tasks, source, split: str, batch_size: int,
             eval_metrics: Optional[dict] = None,
             depth_range=(0.0, math.inf), max_batches: int = 0,
             on_batch=None) -> Dict[str, Dict[str, float]]:
  """Per-task metrics of `model` over `split` of `source`.

  Args:
    eval_metrics: {task: kind} overriding the kinds found from the tasks.
    on_batch: optional callback (inputs, labels, outputs) per batch, e.g. to
      keep the first batch for pictures.
    max_batches: stop after this many batches (0 = the whole split).

  A source of per-task datasets (`task_sources()`, tfmtl.data.multi_source)
  is evaluated source by source: each task on its own source's split.
  """
  if hasattr(source, "task_sources"):
    results = {}
    for part, names in source.task_sources():
      mine = [t for t in tasks if t.name in names]
      if mine:
        results.update(evaluate(model, mine, part, split, batch_size,
                                eval_metrics, depth_range, max_batches,
                                on_batch))
    return {t.name: results[t.name] for t in tasks}
  ds = source.dataset(split, batch_size, drop_remainder=False)
  first = _first_batch(ds, f"split {split!r}")
  outputs = model(first[0], training=False)
  kinds = resolve_kinds(tasks, outputs, first[1], eval_metrics)
  to_pixels = getattr(source, "flow_to_pixels", None)
  evaluators = [TaskMetrics(t, kinds[t.name], tuple(outputs[t.name].shape),
                            depth_range,
                            to_pixels if kinds[t.name] == "flow" else None)
                for t in tasks]

  @tf.function
  def step(x, y, w):
    y, weights = label_weights(tasks, y, w)
    out = float32(model(x, training=False))
    for e in evaluators:
      e.update(y[e.task.name], out[e.task.name],
               None if weights is None else weights[e.task.name])
    return out

  for i, batch in enumerate(ds):
    if max_batches and i >= max_batches:
      break
    x, y = batch[0], batch[1]
    out = step(x, y, batch[2] if len(batch) > 2 else None)
    if on_batch is not None:
      on_batch(x, *in_pixels(source, y, out))
  results = {e.task.name: e.result() for e in evaluators}
  # Sources whose regression labels are normalised (QM9: (y − mean) / std)
  # give the scale back, so MAE is also reported in the label's units.
  for t, scale in (getattr(source, "label_std", None) or {}).items():
    if "mae" in results.get(t, {}):
      results[t]["mae_units"] = results[t]["mae"] * float(scale)
  return results


def check_split(source, split: str) -> None:
  """`split` of `source` (of each of its per-task sources) exists and has
  an example: checked before training or evaluating, not after."""
  picture_batches(source, split, 1)


def picture_batches(source, split: str, num: int):
  """[(source, inputs, labels)]: the first `num` examples of `split`, drawn
  at every checkpoint. Per-task datasets give one batch per source with
  only its own tasks' labels, so each task's picture shows the images it is
  labelled on (a concatenated batch would pair the first source's images
  with, say, depth predictions nobody labelled)."""
  parts = (source.task_sources() if hasattr(source, "task_sources")
           else [(source, None)])
  out = []
  for part, names in parts:
    x, y = _first_batch(part.dataset(split, num, drop_remainder=False),
                        _split_of(split, names))[:2]
    if names is not None:
      y = {k: v for k, v in y.items() if k in names}
    out.append((part, x, y))
  return out


def in_pixels(source, labels, outputs):
  """(labels, outputs) with flow in pixels, for pictures: sources that
  normalise flow labels (`flow_to_pixels`) are mapped back."""
  to_pixels = getattr(source, "flow_to_pixels", None)
  # A run without the flow task (its labels still in the data) has no
  # flow output to map.
  if to_pixels is None or "flow" not in labels or "flow" not in outputs:
    return labels, outputs
  labels, outputs = dict(labels), dict(outputs)
  labels["flow"] = to_pixels(labels["flow"])
  outputs["flow"] = to_pixels(outputs["flow"], prediction=True)
  return labels, outputs


def headline(results, kinds=None) -> Dict[str, Dict[str, float]]:
  """The headline metrics of each task (what Δm and tables compare).

  `kinds` {task: kind} (a report's "kinds"); a task without one is read
  from the metrics it has (results written before kinds were recorded).
  """
  kinds = dict(kinds or {})
  kinds.setdefault("odometry", "odometry")
  return {task: headline_of(values, kinds.get(task))
          for task, values in results.items()}


def delta_m(mtl_results, single_results, kinds=None) -> float:
  """Δm% of a multi-task run against single-task runs (positive = better).

  Args:
    mtl_results: {task: {metric: value}} of the multi-task model.
    single_results: {task: {metric: value}} merged from the single-task
      runs (each run contributes the task it was trained on).
    kinds: {task: kind}, which metrics are compared (see `headline`).
  """
  base = headline(single_results, kinds)
  return metrics_lib.delta_m(mtl_results, base,
                             higher_is_better=HIGHER_IS_BETTER)


def evaluate_with_config(model, tasks, source, config, split=None,
                         on_batch=None) -> Dict[str, Dict[str, float]]:
  """`evaluate` with the split, batch size and metric options of a config."""
  return evaluate(
      model, tasks, source, split or config.eval_split,
      config.eval_batch_size, eval_metrics=config.get("eval_metrics"),
      depth_range=tuple(config.get("eval_depth_range", (0.0, math.inf))),
      on_batch=on_batch)


class OdometryCollector:
  """Collects (trans, rot) predictions of a split in data order.

  Pass `collector.add` as (part of) `on_batch`; `results` integrates each
  sequence's predicted relative poses (label scaling undone) into a
  trajectory and scores it against the ground truth with the KITTI metric
  (t_err %, r_err deg/100 m; NaN for sequences shorter than 100 m), ATE (m)
  and RPE. Works with sources that list their sequences like
  `tfmtl.data.kitti_odometry.KittiOdometrySource`.
  """

  def __init__(self, source, split: str):
    self.source, self.split = source, split
    self.trans, self.rot = [], []

  @staticmethod
  def applies(source, tasks) -> bool:
    """The source gives ordered trajectories and names its (translation,
    rotation) tasks (`odometry_tasks`), and both are being trained."""
    pair = getattr(source, "odometry_tasks", None)
    names = {t.name for t in tasks}
    return bool(pair) and set(pair) <= names and hasattr(
        source, "splits") and hasattr(source, "label_scale")

  def add(self, inputs, labels, outputs):
    """Keeps one batch's predicted translations and rotations (the
    source's `odometry_tasks` outputs), in sequence order.
    """
    del inputs, labels
    trans, rot = self.source.odometry_tasks
    self.trans.append(np.asarray(outputs[trans]))
    self.rot.append(np.asarray(outputs[rot]))

  def trajectories(self):
    """{sequence: (gt poses [N,3,4], predicted poses [N,3,4])}."""
    from tfmtl.data import kitti_odometry  # pylint: disable=g-import-not-at-top
    scale = np.asarray(self.source.label_scale)
    rel = np.concatenate([np.concatenate(self.trans), np.concatenate(
        self.rot)], axis=1) * scale
    out, start = {}, 0
    for seq in self.source.splits[self.split]:
      gt = kitti_odometry.read_poses(
          f"{self.source.root}/poses/{seq}.txt")
      n = len(gt) - 1
      pred = metrics_lib.integrate(rel[start:start + n, :3],
                                   rel[start:start + n, 3:])
      start += n
      out[seq] = (gt, np.asarray(pred)[:, :3, :4])
    return out

  def results(self) -> Dict[str, float]:
    """The KITTI metrics of the trajectories integrated from every batch
    added: t_err, r_err, ATE and RPE averaged over the sequences, and each
    sequence's t_err, r_err and ATE under `SEQUENCE/`.
    """
    per_seq = {}
    for seq, (gt, pred) in self.trajectories().items():
      per_seq[seq] = metrics_lib.odometry.odometry_metrics(gt, pred)
    keys = ("t_err", "r_err", "ate", "rpe_trans", "rpe_rot")
    out = {k: float(np.nanmean([m[k] for m in per_seq.values()]))
           if any(np.isfinite(m[k]) for m in per_seq.values())
           else float("nan") for k in keys}
    for seq, m in per_seq.items():
      out[f"{seq}/t_err"], out[f"{seq}/r_err"] = m["t_err"], m["r_err"]
      out[f"{seq}/ate"] = m["ate"]
    return out


def results_path(workdir, split, other_data: bool = False):
  """`<workdir>/results_<split>.json`; results on data other than the
  run's own go to `results_<split>_other_data.json` instead."""
  suffix = "_other_data" if other_data else ""
  return os.path.join(workdir, f"results_{split}{suffix}.json")


def load_results(workdir, split):
  """The results eval.py wrote for `split` of the run in `workdir`
  (`results_path`), or a UserError saying what to rerun when the file is
  missing, unreadable or holds no metrics.
  """
  path = results_path(workdir, split)
  if not os.path.exists(path):
    raise UserError(f"{path} not found: run eval.py on {workdir} first")
  try:
    with open(path) as f:
      results = json.load(f)
  except (OSError, ValueError) as e:
    raise UserError(f"{path} is unreadable ({type(e).__name__}: {e}); rerun "
                    f"eval.py on {workdir}") from None
  if not isinstance(results, dict) or not isinstance(
      results.get("metrics"), dict):
    raise UserError(f"{path} holds no 'metrics'; rerun eval.py on {workdir}")
  return results


def run_config(workdir, given=None, other_data: bool = False):
  """The config to evaluate `workdir` with, and the data it differs in.

  Without `given`, the run's own saved config. A `given` config may differ
  from it only in evaluation settings and run-control keys (and, with
  `other_data`, in `data`); anything else is refused, naming the keys.

  Returns:
    (config, {dotted data key: (trained with, evaluated on)}).
  """
  import ml_collections  # pylint: disable=g-import-not-at-top
  from tfmtl import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  saved = workdir_lib.load(workdir)
  if given is None:
    if saved is None:
      raise UserError(
          f"{workdir!r} has no {workdir_lib.CONFIG_FILE} (no checkpoint "
          "saved yet, or an older run): pass the --config it was trained "
          "with")
    return ml_collections.ConfigDict(saved), {}
  if saved is None:
    print(f"warning: {workdir!r} has no {workdir_lib.CONFIG_FILE}; cannot "
          "check that --config is the one it was trained with",
          file=sys.stderr, flush=True)
  return given, workdir_lib.check_eval(workdir, given, other_data)


def evaluate_run(config, workdir, split=None, export_dir=None,
                 single_task=(), num_pictures=0, other_data=None,
                 export_formats=("saved_model",),
                 export_logits: bool = False, model_file=None) -> dict:
  """What eval.py does: restore the newest readable checkpoint of
  `workdir`, evaluate, add cost and Δm%, draw pictures, write the results
  file, and optionally export a SavedModel. Returns the report.

  `other_data` ({key: (trained with, evaluated on)}, from `run_config`)
  marks an evaluation on data the run was not trained on: the report says
  so and goes to `results_<split>_other_data.json`. Whatever can be checked
  before the work (the baselines' results, the export directory, the
  split) is, so a mistake writes nothing.

  The export writes each of `export_formats` under `export_dir`
  (tfmtl/export/formats.py; the SavedModel is the serving signature:
  uint8 images in, per-task answers out, `export_logits` adds the logits).

  `model_file` (a .tflite or .onnx written by that export) is evaluated instead of
  the checkpoint, with the same metrics; its results go to
  `results_<split>_<file name with . as _>.json` (model.tflite:
  `results_test_model_tflite.json`), and nothing is exported.
  """
  from tfmtl.export import formats as formats_lib  # pylint: disable=g-import-not-at-top
  from tfmtl import export as export_lib  # pylint: disable=g-import-not-at-top
  split = split or config.eval_split
  baselines = {}
  for wd in single_task:  # read first: a missing one fails at once
    baselines.update(load_results(wd, split)["metrics"])
  if export_dir:
    export_formats = formats_lib.check_formats(export_formats)
    export_lib.check_target(export_dir)
  if model_file:
    return _evaluate_file(config, workdir, split, model_file, other_data,
                          baselines if single_task else None)
  exp, step = _restore(config, workdir)
  check_split(exp.source, split)
  metrics, first, odometry = _evaluate_split(exp, config, split)
  report = _report(exp, config, split, metrics, step, other_data,
                   baselines if single_task else None)
  _write(report, workdir, split, first, odometry, num_pictures,
         other_data is not None)
  if export_dir:
    formats_lib.export_formats(
        exp.model, _input_spec(exp), report["kinds"], export_dir,
        export_formats, {t.name: t.family for t in exp.tasks},
        exp.source.dataset("train", 1), export_logits)
  return report


def _evaluate_file(config, workdir, split, model_file, other_data,
                   baselines):
  """evaluate_run for an exported .tflite or .onnx: the run's network is built only
  for its tasks, kinds and cost; the file makes every prediction."""
  from tfmtl import distribute, experiment  # pylint: disable=g-import-not-at-top
  from tfmtl import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  from tfmtl.export import litert, saved_model  # pylint: disable=g-import-not-at-top
  stem, ext = os.path.splitext(os.path.basename(model_file))
  if ext not in (".tflite", ".onnx"):
    raise UserError(f"{model_file}: --model_file must be a .tflite or .onnx "
                    "written by eval.py --export_formats=tflite,tflite_int8,"
                    "onnx")
  if not os.path.isfile(model_file):
    raise UserError(f"--model_file {model_file!r} does not exist")
  exp = experiment.build(config, distribute.make_strategy("default"),
                         with_step=False)
  check_split(exp.source, split)
  spec = _input_spec(exp)
  runner = None
  if ext == ".onnx":
    from tfmtl.export import onnx as onnx_lib  # pylint: disable=g-import-not-at-top
    runner = onnx_lib.Runner(model_file)
  lite = litert.ExportedModel(
      model_file, [t.name for t in exp.tasks],
      lambda x: saved_model.to_features(exp.model, spec, x), runner)
  metrics, _, _ = _evaluate_split(exp, config, split, lite)
  report = _report(exp, config, split, metrics, None, other_data, baselines)
  report["model_file"] = os.path.abspath(model_file)
  # The extension is part of the name: model.tflite and model.onnx differ.
  path = results_path(workdir, f"{split}_{stem}_{ext[1:]}",
                      other_data is not None)
  workdir_lib.atomic_write(path, json.dumps(report, indent=2, sort_keys=True))
  return report


def _restore(config, workdir):
  """(experiment, step): the model of the newest readable checkpoint."""
  # Imported here: they import much of the package, which imports this.
  from tfmtl import checkpoint, distribute, experiment  # pylint: disable=g-import-not-at-top
  exp = experiment.build(config, distribute.make_strategy("default"),
                         with_step=False)
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, "checkpoints"),
                                 read_only=True, model=exp.model)
  if not ckpt.restore():  # falls back past damaged newest checkpoints
    raise UserError(f"no checkpoint in {workdir!r}: train first with "
                    f"train.py --workdir={workdir}")
  return exp, ckpt.step


def _evaluate_split(exp, config, split, model=None):
  """(metrics, first batches for pictures, odometry collector or None) of
  `model` (default: the experiment's)."""
  first = []
  odometry = (OdometryCollector(exp.source, split)
              if OdometryCollector.applies(exp.source, exp.tasks)
              else None)

  def on_batch(x, y, out):
    # The first batch (of each source, for per-task datasets).
    if not any(set(y) == set(f[1]) for f in first):
      first.append((x, y, out))
    if odometry:
      odometry.add(x, y, out)

  try:
    metrics = evaluate_with_config(
        model or exp.model, exp.tasks, exp.source, config, split,
        on_batch=on_batch)
  except tf.errors.InvalidArgumentError as e:
    from tfmtl.data import pipeline  # pylint: disable=g-import-not-at-top
    better = pipeline.explain_decode_error(exp.source, e)  # names the file
    if better is None:
      raise
    raise better from None
  if odometry:
    metrics["odometry"] = odometry.results()
  return metrics, first, odometry


def _input_spec(exp):
  """The inputs' element spec of the train split (batch dim first)."""
  return exp.source.dataset("train", 1).element_spec[0]


def _report(exp, config, split, metrics, step, other_data, baselines):
  """The results file's content: metrics, kinds, cost, Δm%."""
  from tfmtl import models  # pylint: disable=g-import-not-at-top
  spec = _input_spec(exp)
  shapes = ({k: v.shape[1:] for k, v in spec.items()}
            if isinstance(spec, dict) else tf.TensorSpec(spec.shape[1:]))
  cost = models.cost(exp.model, shapes)
  kinds = task_kinds(exp.model, exp.tasks, exp.source, split,
                     config.get("eval_metrics"))
  report = {
      "metrics": metrics,
      "kinds": kinds,
      "headline": headline(metrics, kinds),
      "params": cost.params, "gmacs": cost.gmacs,
      "task_gmacs": {k: v.gmacs for k, v in cost.tasks.items()},
      "method": config.method, "model": config.model.name,
      "tasks": [t.name for t in exp.tasks], "seed": config.seed,
      "step": step, "split": split,
  }
  if other_data is not None:
    report["other_data"] = {k: [a, b] for k, (a, b) in other_data.items()}
  if baselines is not None:
    report["delta_m"] = delta_m(metrics, baselines, kinds)
    # Which tasks it covers: a baseline set may leave some out.
    report["delta_m_tasks"] = [t for t in report["tasks"] if t in baselines]
  return report


def _write(report, workdir, split, first, odometry, num_pictures,
           other_data: bool):
  """Pictures (added to the report), then the results file."""
  from tfmtl import pictures  # pylint: disable=g-import-not-at-top
  from tfmtl import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  if num_pictures and first:
    directory = os.path.join(workdir, "pictures")
    report["pictures"] = [p for f in first for p in pictures.draw(
        directory, split, *f, num_pictures)]
    if odometry:
      report["pictures"] += pictures.trajectories(
          directory, split, odometry.trajectories(), num_pictures)
  workdir_lib.atomic_write(results_path(workdir, split, other_data),
                           json.dumps(report, indent=2, sort_keys=True))


def format_report(report, fmt: str = "text") -> str:
  """eval.py's printout of a report: text, json or markdown."""
  if fmt == "json":
    return json.dumps(report, indent=2, sort_keys=True)
  metrics = report["metrics"]
  lines = []
  if fmt == "markdown":
    lines += ["| task | metric | value |", "|---|---|---|"]
    for task, values in metrics.items():
      lines += [f"| {task} | {k} | {v:.5g} |" for k, v in values.items()]
  else:
    lines += [f"{task}: " + ", ".join(f"{k}={v:.5g}" for k, v in
                                      values.items())
              for task, values in metrics.items()]
  lines.append(f"params {report['params']:,}  GMACs {report['gmacs']:.4g}")
  if "delta_m" in report:
    covered = report.get("delta_m_tasks", report.get("tasks", []))
    left = [t for t in report.get("tasks", []) if t not in covered]
    over = (f" over {', '.join(covered)} only ({', '.join(left)}: no "
            "single-task result)" if left else "")
    lines.append(f"Δm% vs single-task{over}: {report['delta_m']:+.2f}")
  if report.get("other_data"):
    lines.append("evaluated on other data than the run was trained on: " +
                 ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in
                           report["other_data"].items()))
  return "\n".join(lines)
