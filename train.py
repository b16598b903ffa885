r"""Trains a multi-task network from a Python config.

  python train.py --config=configs/toy_two_task.py --workdir=runs/toy
  python train.py --config=configs/toy_gradnorm.py:T=10 --workdir=runs/gn10 \
      --config.method=gradnorm

Rerun with the same --workdir to resume from its latest checkpoint.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from tfmtl import checkpoint, distribute, experiment, summaries
from tfmtl.errors import UserError

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Python config file, e.g. configs/toy_two_task.py[:arg]",
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Directory for checkpoints, summaries and exports.")


def train(config, workdir: str) -> dict:
  """Runs (or resumes) training; returns the final evaluation."""
  # === Strategy ===
  strategy = distribute.make_strategy(config.strategy, config.num_devices)
  chief = distribute.is_chief(strategy)
  checkpoint.check_workdir(workdir)

  # === Data, model, method, step ===
  exp = experiment.build(config, strategy)
  checkpoint.prepare_workdir(workdir, config)  # only once the config is valid
  iterator = iter(exp.train_dataset())

  # === Checkpoints: resume where the last run stopped ===
  ckpt = checkpoint.Checkpointer(
      os.path.join(workdir, "checkpoints") if chief
      else os.path.join(workdir, f"tmp_worker_{strategy.cluster_resolver.task_id}"),
      max_to_keep=config.keep_checkpoints, model=exp.model,
      optimizer=exp.optimizer, method=exp.method, iterator=iterator)
  if ckpt.restore():
    print(f"resumed from {ckpt.latest}", flush=True)
  step = int(exp.optimizer.iterations.numpy())

  # === Loop ===
  writer = summaries.Writer(os.path.join(workdir, "train") if chief else None)
  progress = summaries.Progress(config.steps, start=step)
  boundaries = (config.log_every, config.checkpoint_every)
  while step < config.steps:
    # Run up to the next log/checkpoint boundary in one call, at most
    # steps_per_loop steps (host-side work happens only between calls).
    n = min([config.steps - step, max(config.steps_per_loop, 1)] +
            [b - step % b for b in boundaries if b])
    logs = (exp.train_step.loop(iterator, n) if n > 1
            else exp.train_step(next(iterator)))
    step += n
    done = step >= config.steps
    if done or step % config.log_every == 0:
      values = summaries.to_floats(logs)
      progress(step, values)
      writer.scalars(step, values)
    if done or step % config.checkpoint_every == 0:
      ckpt.save(step)

  # === Evaluate ===
  results = experiment.evaluate(exp.model, exp.tasks, exp.source,
                                config.eval_split, config.eval_batch_size)
  print(f"final {config.eval_split} metrics after {step} steps:")
  for task, metrics in results.items():
    print(f"  {task}: " + ", ".join(f"{k}={v:.5g}" for k, v in
                                     metrics.items()))
  return results


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  try:
    train(experiment.load_config(_CONFIG), _WORKDIR.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main, flags_parser=experiment.parse_flags)
