"""Checkpoints that resume exactly: model, optimizer, method state, data.

`tf.train.CheckpointManager` writes the checkpoint files first and the small
`checkpoint` index last (atomically), so a crash mid-save leaves the previous
checkpoint as the latest usable one. The workdir also keeps the config the run
started with; resuming with a different model or task set is refused rather
than failing deep inside a variable restore.
"""

import json
import os
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
    directory: where checkpoints go (`<workdir>/checkpoints`).
    max_to_keep: how many recent checkpoints to keep.
    **objects: trackables to save (model=, optimizer=, method=, iterator=).
  """

  def __init__(self, directory: str, max_to_keep: int = 3, **objects):
    self.checkpoint = tf.train.Checkpoint(**objects)
    self.manager = tf.train.CheckpointManager(
        self.checkpoint, directory, max_to_keep=max_to_keep)

  @property
  def latest(self) -> Optional[str]:
    return self.manager.latest_checkpoint

  def restore(self) -> bool:
    """Restores the latest checkpoint if there is one; True if restored."""
    path = self.manager.latest_checkpoint
    if not path:
      return False
    try:
      self.checkpoint.restore(path).assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
      first = (str(e).splitlines() or [""])[0][:200]
      raise UserError(
          f"checkpoint {path} does not match this model/config "
          f"({type(e).__name__}: {first}); use a new --workdir") from None
    return True

  def save(self, step: int) -> str:
    return self.manager.save(checkpoint_number=step)
