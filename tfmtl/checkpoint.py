"""Checkpoints that resume exactly: model, optimizer, method state, data.

`tf.train.CheckpointManager` writes the checkpoint files first (TensorFlow's
saver writes shards into a temporary directory and merges them into place)
and the small `checkpoint` state file last (atomically), so a crash mid-save
leaves the previous checkpoint as the latest usable one. Should the newest
files be damaged anyway (a disk fault, a copy cut short), `restore` falls back
to the newest checkpoint that reads.

Multi-worker rule: every worker must call save (the save may use collective
ops), but only the chief's copy is kept; the others write to a temporary
directory they delete, and every worker restores from the chief's directory. The workdir also keeps the config the run
started with; resuming with a different model or task set is refused rather
than failing deep inside a variable restore.
"""

import json
import os
import shutil
import sys
import tempfile
from typing import Optional

import tensorflow as tf

from tfmtl.errors import UserError

CONFIG_FILE = "config.json"
# Config sections that decide the shapes of what a checkpoint holds.
IDENTITY_KEYS = ("model", "tasks", "method")


def check_workdir(workdir: str) -> None:
  """Fails early on a workdir that can't be one."""
  if not workdir:
    raise UserError("--workdir is required: a directory for checkpoints, "
                    "summaries and exports")
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise UserError(f"workdir {workdir!r} is a file; give a directory path")


def prepare_workdir(workdir: str, config) -> None:
  """Creates `workdir`, or checks a resumed one was made by this config."""
  check_workdir(workdir)
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, CONFIG_FILE)
  mine = json.loads(config.to_json_best_effort())
  if os.path.exists(path):
    with open(path) as f:
      theirs = json.load(f)
    for key in IDENTITY_KEYS:
      if theirs.get(key) != mine.get(key):
        raise UserError(
            f"workdir {workdir!r} holds a run with a different {key!r} "
            f"config ({theirs.get(key)} vs {mine.get(key)}); use a new "
            "--workdir or the original config")
    return
  _atomic_write(path, json.dumps(mine, indent=2, sort_keys=True))


def _atomic_write(path: str, text: str) -> None:
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".")
  with os.fdopen(fd, "w") as f:
    f.write(text)
  os.replace(tmp, path)


class Checkpointer:
  """Saves and restores everything a run needs to continue where it stopped.

  Args:
    directory: where checkpoints live (`<workdir>/checkpoints`); restores
      read from here.
    max_to_keep: how many recent checkpoints to keep.
    write_directory: a non-chief worker's own temporary directory: saves go
      there and are deleted right after (None on the chief).
    **objects: trackables to save (model=, optimizer=, method=, iterator=).
  """

  def __init__(self, directory: str, max_to_keep: int = 3,
               write_directory: Optional[str] = None, **objects):
    self.checkpoint = tf.train.Checkpoint(**objects)
    self.manager = tf.train.CheckpointManager(
        self.checkpoint, directory, max_to_keep=max_to_keep)
    self.write_directory = write_directory
    self._writer = self.manager if write_directory is None else (
        tf.train.CheckpointManager(self.checkpoint, write_directory,
                                   max_to_keep=1))

  @property
  def latest(self) -> Optional[str]:
    return self.manager.latest_checkpoint

  def restore(self) -> bool:
    """Restores the newest readable checkpoint; True if one was restored."""
    candidates = list(reversed(self.manager.checkpoints))
    for i, path in enumerate(candidates):
      try:
        status = self.checkpoint.restore(path)
        status.assert_existing_objects_matched().expect_partial()
      except (tf.errors.DataLossError, tf.errors.NotFoundError,
              IndexError) as e:
        # Damaged or missing files (a truncated shard reads short): try the
        # one before.
        first = (str(e).splitlines() or [""])[0][:200]
        print(f"warning: checkpoint {path} is unreadable ({first}); "
              + ("trying the previous one" if i + 1 < len(candidates)
                 else "no older checkpoint"), file=sys.stderr, flush=True)
        continue
      except (AssertionError, ValueError, tf.errors.OpError) as e:
        first = (str(e).splitlines() or [""])[0][:200]
        raise UserError(
            f"checkpoint {path} does not match this model/config "
            f"({type(e).__name__}: {first}); use a new --workdir") from None
      self.restored = path
      return True
    if candidates:
      raise UserError(f"no checkpoint in {self.manager.directory} is "
                      "readable; use a new --workdir")
    return False

  def save(self, step: int) -> Optional[str]:
    """Saves; returns the path on the chief, None on other workers."""
    path = self._writer.save(checkpoint_number=step)
    if self.write_directory is None:
      return path
    shutil.rmtree(self.write_directory, ignore_errors=True)
    return None
