r"""Trains a multi-task network from a Python config.

  python train.py --config=configs/toy_two_task.py --workdir=runs/toy
  python train.py --config=configs/toy_gradnorm.py:T=10 --workdir=runs/gn10 \
      --config.method=gradnorm

Rerun with the same --workdir to resume from its latest checkpoint.

  python train.py --config=configs/toy_two_task.py --workdir=runs/toy \
      --strategy=mirrored --config.num_devices=2 --mixed_precision=mixed_bfloat16
  TF_CONFIG=... python train.py ... --strategy=multi_worker   # on each worker
  python train.py ... --strategy=tpu --tpu_address=grpc://10.0.0.2:8470
"""

import os
import signal
import sys
from typing import Callable, Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from tfmtl import quiet  # noqa: E402
quiet.import_tensorflow()  # TensorFlow's start-up noise filtered out

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

import tensorflow as tf  # noqa: E402

from tfmtl import checkpoint, distribute, evaluation, experiment, pictures  # noqa: E402
from tfmtl import cli, interrupt, summaries  # noqa: E402
from tfmtl import workdir as workdir_lib  # noqa: E402
from tfmtl import data as data_lib  # noqa: E402
from tfmtl.data import pipeline  # noqa: E402
from tfmtl.errors import UserError

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Python config file, e.g. configs/toy_two_task.py[:arg]",
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Directory for checkpoints, summaries and exports.")
_ALLOW_CHANGE = flags.DEFINE_bool(
    "allow_config_change", False, "Resume with changed training settings "
    "(optimizer, data, ...); the change is recorded in the workdir.")
# Shorthands that override the config (same as --config.<name>=...).
_OVERRIDES = {
    "strategy": flags.DEFINE_enum(
        "strategy", None, distribute.STRATEGIES, "config.strategy"),
    "tpu_address": flags.DEFINE_string(
        "tpu_address", None, "config.tpu_address: TPU name or grpc:// address"),
    "mixed_precision": flags.DEFINE_enum(
        "mixed_precision", None, experiment.PRECISIONS,
        "config.mixed_precision (Keras policy; '' = float32)"),
}


def train(config, workdir: str, after_training: Optional[Callable] = None,
          allow_config_change: bool = False) -> dict:
  """Runs (or resumes) training; returns the final evaluation.

  `after_training(experiment)`, if given, sees the trained pieces before the
  evaluation (tests compare the weights of workers with it).
  `allow_config_change` lets a resumed run continue with changed training
  settings (optimizer, data, ...), recording the change in the workdir.
  A SIGINT / SIGTERM saves a checkpoint at the current step and ends the
  process by that signal.
  """
  experiment.preflight(config)
  checkpoint.check_workdir(workdir)
  # === Strategy ===
  strategy = distribute.make_strategy(
      config.strategy, config.num_devices,
      experiment.setting(config, "tpu_address"))
  chief = distribute.is_chief(strategy)

  # === Data, model, method, step ===
  try:
    exp = experiment.build(config, strategy)
  except tf.errors.InvalidArgumentError as e:  # in the first batch's check
    _raise_decode_error(data_lib.get(config.data.name, **config.data.kwargs),
                        e)
  if chief:
    print(summaries.startup_line(config.method, exp.train_step, exp.kinds),
          flush=True)
  # Only once the config is valid; only the chief writes the workdir.
  lock = workdir_lib.Lock(workdir).acquire() if chief else None
  # Collective saves can't run on one worker alone: only a single-worker
  # run saves on a signal.
  multi_worker = getattr(strategy.extended, "_in_multi_worker_mode",
                         lambda: False)()
  stop = interrupt.Interrupts(enabled=not multi_worker)
  try:
    with stop:
      results = _run(config, workdir, exp, chief, stop, allow_config_change,
                     after_training)
  except tf.errors.InvalidArgumentError as e:
    _raise_decode_error(exp.source, e)
  finally:
    if lock:
      lock.release()
  stop.reraise()
  return results


def _run(config, workdir, exp, chief, stop, allow_config_change,
         after_training):
  # === Checkpoints: resume where the last run stopped ===
  # Non-chief workers save too (collectives) into a directory they delete.
  iterator = iter(exp.train_dataset())
  saveable = experiment.iterator_saveable(iterator)
  counters = exp.train_step.counters
  ckpt_dir = os.path.join(workdir, "checkpoints")
  changes = {}
  if checkpoint.on_disk(ckpt_dir):
    changes = workdir_lib.check_resume(workdir, config, allow_config_change)
    if chief and workdir_lib.load(workdir) is None:
      print(f"warning: {workdir!r} has checkpoints but no "
            f"{workdir_lib.CONFIG_FILE}; cannot check that this config is "
            "the one they were trained with", file=sys.stderr, flush=True)
  ckpt = checkpoint.Checkpointer(
      ckpt_dir, max_to_keep=config.keep_checkpoints,
      write_directory=(None if chief
                       else distribute.worker_directory(workdir, exp.strategy)),
      model=exp.model, optimizer=exp.optimizer, method=exp.method,
      counters=counters, **({"iterator": iterator} if saveable else {}))
  if ckpt.restore():
    print(f"resumed from {ckpt.restored}", flush=True)
  step = int(counters.steps.numpy())  # attempted steps, skipped ones too
  skips = int(counters.skips.numpy())
  if changes and chief:
    print(f"warning: continuing from step {step} with changed training "
          f"settings: {workdir_lib.listing(changes)} (recorded in "
          f"{workdir_lib.CHANGES_FILE})", file=sys.stderr, flush=True)
    workdir_lib.record_changes(workdir, step, changes)
    workdir_lib.save(workdir, config)
  if step and not saveable:  # replay to our place
    iterator = iter(exp.train_dataset(
        skip=step * exp.train_step.batches_per_step))

  config_path = os.path.join(workdir, workdir_lib.CONFIG_FILE)

  def save(step):
    first_save = chief and not os.path.exists(config_path)
    try:
      if chief:  # the config of the checkpoints, written with them
        workdir_lib.save(workdir, config)
      ckpt.save(step)
    except (OSError, tf.errors.OpError) as e:
      if first_save and not checkpoint.on_disk(ckpt_dir):
        os.remove(config_path)  # no checkpoint: no config either
      first = (str(e).splitlines() or [""])[0][:200]
      last = (f"the checkpoint of step {ckpt.latest_step} is intact"
              if ckpt.latest_step else "no checkpoint was saved before")
      raise UserError(f"could not save the checkpoint of step {step} in "
                      f"{ckpt_dir} ({type(e).__name__}: {first}); {last}; "
                      "free disk space or fix permissions, then rerun to "
                      "resume") from None

  # === Loop ===
  writer = summaries.Writer(os.path.join(workdir, "train") if chief else None)
  # Fixed eval batches drawn at every checkpoint (dense tasks only).
  shown = (evaluation.picture_batches(exp.source, config.eval_split, 4)
           if chief else [])
  progress = summaries.Progress(
      config.steps, start=step,
      method_logs=experiment.setting(config, "show_method_logs"))
  boundaries = (config.log_every, config.checkpoint_every)
  while step < config.steps:
    # Run up to the next log/checkpoint boundary in one call, at most
    # steps_per_loop steps (host-side work happens only between calls).
    n = min([config.steps - step, max(config.steps_per_loop, 1)] +
            [b - step % b for b in boundaries if b])
    logs = (exp.train_step.loop(iterator, n) if n > 1
            else exp.train_step(exp.train_step.draw(iterator)))
    step += n
    skips = _check_faults(logs, step, skips, exp.tasks,
                          experiment.setting(config, "max_nonfinite_skips"),
                          ckpt.latest_step)
    done = step >= config.steps
    if done or step % config.log_every == 0:
      values = summaries.to_floats(logs)
      progress(step, values)
      writer.scalars(step, values)
    if stop.signum is not None:
      save(step)
      print(f"saved the checkpoint of step {step}; stopped by "
            f"{signal.Signals(stop.signum).name} (rerun to resume)",
            file=sys.stderr, flush=True)
      return {}
    if done or step % config.checkpoint_every == 0:
      save(step)
      grids = {}
      for source, x, y in shown:
        grids.update(pictures.grids(x, *evaluation.in_pixels(
            source, y, exp.model(x, training=False)), 4))
      writer.images(step, grids)

  if after_training:
    after_training(exp)

  # === Evaluate ===
  results = evaluation.evaluate_with_config(exp.model, exp.tasks,
                                            exp.source, config)
  print(f"final {config.eval_split} metrics after {step} steps:")
  for task, metrics in results.items():
    print(f"  {task}: " + ", ".join(f"{k}={v:.5g}" for k, v in
                                     metrics.items()))
  return results


def _raise_decode_error(source, error):
  """Re-raises a tf.data decode error as a UserError naming the file."""
  better = pipeline.explain_decode_error(source, error)
  if better is None:
    raise error
  raise better from None


def _check_faults(logs, step: int, skips: int, tasks, limit: int,
                  saved: Optional[int] = None) -> int:
  """Reports newly skipped (non-finite) updates; stops after `limit` in a
  row. Returns the skip count so far."""
  total = int(logs["nonfinite_skips"])
  if total == skips:
    return total
  culprits = []
  for t in tasks:
    code = int(logs[f"nonfinite/{t.name}"])
    what = [w for bit, w in ((1, "loss"), (2, "gradient")) if code & bit]
    if what:
      culprits.append(f"{t.name} ({' and '.join(what)})")
  named = ", ".join(culprits) or "none named"
  print(f"warning: step {step}: skipped {total - skips} update(s) with a "
        f"non-finite loss or gradient ({total} so far); last one in task(s) "
        f"{named}", file=sys.stderr, flush=True)
  in_a_row = int(logs["consecutive_skips"])
  if limit and in_a_row >= limit:
    raise UserError(
        f"stopped at step {step}: {in_a_row} updates in a row had a "
        f"non-finite loss or gradient (task(s) {named}); "
        + (f"the checkpoint of step {saved} is intact. " if saved
           else "no checkpoint was saved. ") +
        "Lower the learning rate, set clip_global_norm, check the "
        "data and labels, or raise config.max_nonfinite_skips")
  return total


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  try:
    config = experiment.load_config(_CONFIG)
    given = {k: f.value for k, f in _OVERRIDES.items() if f.present}
    with config.unlocked():
      config.update(given)
    train(config, _WORKDIR.value,
          allow_config_change=_ALLOW_CHANGE.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main, flags_parser=cli.parse_flags)
