"""Checkpoints that resume exactly: model, optimizer, method state, data.

`tf.train.CheckpointManager` writes the checkpoint files first (TensorFlow's
saver writes shards into a temporary directory and merges them into place)
and the small `checkpoint` state file last (atomically), so a crash mid-save
leaves the previous checkpoint as the latest usable one. Should the newest
files be damaged anyway (a disk fault, a copy cut short), `restore` falls back
to the newest checkpoint that reads.

Damage and mismatch raise overlapping TensorFlow errors (a damaged index is a
bare `OpError`, like many a mismatch; a truncated data file an `IndexError`),
so a failed restore is told apart by reading the files again (`damage`):
whatever does not read back with its checksums is damage (fall back past it);
files that read whole are a checkpoint of another model (refused).

Multi-worker rule: every worker must call save (the save may use collective
ops), but only the chief's copy is kept; the others write to a temporary
directory they delete, and every worker restores from the chief's directory.

A lost or garbled `checkpoint` index (TF then lists no checkpoint at all)
would restart the run from step 0 and orphan every checkpoint: `restore`
then tries the `ckpt-N` files on disk, newest first, warns, and rewrites the
index. `ckpt-N_temp` folders of killed saves are deleted when a run starts.
The run's config lives next to the checkpoints (`tfmtl.workdir`).
"""

import os
import re
import shutil
import sys
from typing import List, Optional

import tensorflow as tf
from tensorflow.python.checkpoint import checkpoint_management  # pylint: disable=g-direct-tensorflow-import

from tfmtl.errors import UserError


def check_workdir(workdir: str) -> None:
  """Fails early on a workdir that can't be one."""
  if not workdir:
    raise UserError("--workdir is required: a directory for checkpoints, "
                    "summaries and exports")
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise UserError(f"workdir {workdir!r} is a file; give a directory path")


def on_disk(directory: str) -> List[str]:
  """Paths of the `ckpt-N` checkpoints whose index file exists, newest
  first (whatever the `checkpoint` state file says)."""
  found = []
  for name in (os.listdir(directory) if os.path.isdir(directory) else []):
    m = _INDEX.fullmatch(name)
    if m:
      found.append((int(m.group(2)), os.path.join(directory, m.group(1))))
  return [p for _, p in sorted(found, reverse=True)]


_INDEX = re.compile(r"(ckpt-(\d+))\.index")
_TEMP = re.compile(r"ckpt-\d+_temp.*")


class Checkpointer:
  """Saves and restores everything a run needs to continue where it stopped.

  Args:
    directory: where checkpoints live (`<workdir>/checkpoints`); restores
      read from here.
    max_to_keep: how many recent checkpoints to keep.
    write_directory: a non-chief worker's own temporary directory: saves go
      there and are deleted right after (None on the chief).
    read_only: never change `directory` (eval.py: a live run may be writing
      it). Otherwise the chief repairs a lost `checkpoint` index and deletes
      `ckpt-N_temp` folders of saves that were killed.
    **objects: trackables to save (model=, optimizer=, method=, iterator=).
  """

  def __init__(self, directory: str, max_to_keep: int = 3,
               write_directory: Optional[str] = None,
               read_only: bool = False, **objects):
    self.directory = directory
    self.checkpoint = tf.train.Checkpoint(**objects)
    self.max_to_keep = max_to_keep
    self.read_only = read_only or write_directory is not None
    self.manager = self._manager()
    self.write_directory = write_directory
    self.restored = None
    self._writer = self.manager if write_directory is None else (
        tf.train.CheckpointManager(self.checkpoint, write_directory,
                                   max_to_keep=1))
    if not self.read_only:
      self._clean_temp()

  def _manager(self):
    return tf.train.CheckpointManager(self.checkpoint, self.directory,
                                      max_to_keep=self.max_to_keep)

  @property
  def latest(self) -> Optional[str]:
    return self.manager.latest_checkpoint

  def candidates(self) -> List[str]:
    """Checkpoints to try, newest first: those the `checkpoint` index
    lists, or, when the index is missing or unreadable (TF then lists
    none), every `ckpt-N` on disk (with a warning)."""
    listed = list(reversed(self.manager.checkpoints))
    if listed:
      return listed
    found = on_disk(self.directory)
    if found:
      index = os.path.join(self.directory, "checkpoint")
      state = "unreadable" if os.path.exists(index) else "missing"
      print(f"warning: the checkpoint index {index} is {state}; recovering "
            f"from the newest readable of {len(found)} ckpt-N files on disk",
            file=sys.stderr, flush=True)
    return found

  def restore(self) -> bool:
    """Restores the newest readable checkpoint; True if one was restored."""
    candidates = self.candidates()
    for i, path in enumerate(candidates):
      try:
        status = self.checkpoint.restore(path)
        status.assert_existing_objects_matched().expect_partial()
      except (AssertionError, ValueError, IndexError, tf.errors.OpError) as e:
        found = damage(path)
        if found is None:
          raise UserError(
              f"checkpoint {path} does not match this model/config "
              f"({type(e).__name__}: {_first_line(e)}); use a new --workdir"
          ) from None
        print(f"warning: checkpoint {path} is damaged ({found}); "
              + ("trying the previous one" if i + 1 < len(candidates)
                 else "no older checkpoint"), file=sys.stderr, flush=True)
        continue
      self.restored = path
      if path not in self.manager.checkpoints and not self.read_only:
        self._repair_index(path, candidates)
      return True
    if candidates:
      names = ", ".join(os.path.basename(p) for p in candidates)
      raise UserError(
          f"every checkpoint in {self.directory} is damaged ({names}: see the "
          "warnings above); nothing was changed; put back intact copies of "
          "their files, or use a new --workdir")
    return False

  def _repair_index(self, path: str, candidates: List[str]) -> None:
    """Rewrites the `checkpoint` index naming `path` as the latest, so the
    manager knows the older ones again (and deletes them in turn)."""
    older = [p for p in candidates if number(p) <= number(path)]
    keep = list(reversed(older[:self.max_to_keep]))
    # With timestamps after `last_preserved_timestamp`, or the manager
    # would treat them as kept forever (and list none).
    times = [os.path.getmtime(p + ".index") for p in keep]
    checkpoint_management.update_checkpoint_state_internal(
        save_dir=self.directory, model_checkpoint_path=path,
        all_model_checkpoint_paths=keep,
        all_model_checkpoint_timestamps=times,
        last_preserved_timestamp=min(times) - 1.0)
    self.manager = self._manager()
    self._writer = self.manager

  def _clean_temp(self) -> None:
    """Deletes `ckpt-N_temp*` folders left by saves that were killed."""
    if not os.path.isdir(self.directory):
      return
    for name in os.listdir(self.directory):
      if _TEMP.fullmatch(name):
        shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)

  @property
  def step(self) -> Optional[int]:
    """The step of the restored checkpoint (None if none was)."""
    return number(self.restored) if self.restored else None

  @property
  def latest_step(self) -> Optional[int]:
    """The step of the newest checkpoint in the index (None if none)."""
    return number(self.latest) if self.latest else None

  def save(self, step: int) -> Optional[str]:
    """Saves; returns the path on the chief, None on other workers."""
    path = self._writer.save(checkpoint_number=step)
    if self.write_directory is None:
      return path
    shutil.rmtree(self.write_directory, ignore_errors=True)
    return None


def damage(path: str) -> Optional[str]:
  """What makes checkpoint `path` unreadable, naming the file, or None when
  its index and every tensor read back with their checksums.

  Reads the whole checkpoint (one tensor at a time); meant for after a
  failed restore, to tell damage from a checkpoint of another model.
  """
  name = os.path.basename(path)
  folder = os.path.dirname(path)
  if not os.path.exists(path + ".index"):
    return f"{name}.index is missing"
  try:
    dtypes = tf.train.load_checkpoint(path).get_variable_to_dtype_map()
  except (tf.errors.OpError, IndexError) as e:
    return f"{name}.index does not read: {_first_line(e, folder)}"
  try:
    for key, dtype in dtypes.items():
      # The op, not the reader's get_tensor: that can't convert variant
      # tensors (input-iterator state) to numpy, and would call them damaged.
      tf.raw_ops.RestoreV2(prefix=path, tensor_names=[key],
                           shape_and_slices=[""], dtypes=[dtype])
  except tf.errors.OpError as e:
    message = str(e)
    named = re.search(r"[^\s;]*\.data-\d+-of-\d+", message)
    if named and not os.path.exists(named.group()):
      return f"{os.path.basename(named.group())} is missing"
    shards = sorted(n for n in os.listdir(folder or ".")
                    if n.startswith(name + ".data-"))
    shard = shards[0] if len(shards) == 1 else f"{name}.data-*"
    return f"{shard} does not read: {_first_line(e, folder)}"
  return None


def _first_line(e: Exception, folder: str = "") -> str:
  """The gist of a TensorFlow error: its first line without the op prefix,
  and without `folder` in its paths (the warning names it already)."""
  line = (str(e).splitlines() or [""])[0]
  line = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", line)
  line = re.sub(r"\s*\[Op:\w+\]$", "", line)
  if folder:
    line = line.replace(folder + os.sep, "")
  return line[:200]


def number(path: str) -> int:
  """N of a `.../ckpt-N` path."""
  return int(path.rsplit("-", 1)[-1])
