"""A run's workdir: who holds it, and the config it was trained with.

Lock. A live `train.py` holds `<workdir>/lock`: an exclusive `flock` on that
file for the whole run, whose text names the holder (host, pid, start time).
The kernel drops the lock when the process dies however it dies, so a lock
file left by a dead run is taken over (with a warning naming the dead
holder); a second live run is refused with one line naming the live one.
Under multi-worker training only the chief locks (the other workers write
nothing into the workdir but their own temporary folder).

Config. `<workdir>/config.json` is the config of the run's checkpoints: it is
written together with the first checkpoint (never before, so a run that
fails at step 0 leaves nothing that refuses the next one) and rewritten
whenever a checkpoint is saved under a changed config. A resumed run
compares its config with it:
  - `model`, `tasks`, `method` (what a checkpoint's variables are) must be
    equal, always;
  - everything else but the run-control keys (`FREE_KEYS`: steps, logging,
    checkpointing, strategy, evaluation ...) must be equal too unless
    `--allow_config_change` is given; an allowed change is printed and
    appended to `<workdir>/config_changes.jsonl`.
"""

import datetime
import fcntl
import json
import os
import socket
import sys
import tempfile
from typing import Dict, Optional, Tuple

from tfmtl.errors import UserError

CONFIG_FILE = "config.json"
CHANGES_FILE = "config_changes.jsonl"
LOCK_FILE = "lock"
# Config sections that decide the shapes of what a checkpoint holds.
IDENTITY_KEYS = ("model", "tasks", "method")
# Top-level keys that only change how a trained model is evaluated.
EVAL_KEYS = ("eval_split", "eval_batch_size", "eval_metrics",
             "eval_depth_range")
# Top-level keys that do not change what training computes: a resumed run
# (and eval.py's --config) may change them freely.
FREE_KEYS = ("steps", "epochs", "show_method_logs", "log_every", "checkpoint_every", "keep_checkpoints",
             "strategy", "num_devices", "tpu_address", "jit_compile",
             "steps_per_loop", "max_nonfinite_skips") + EVAL_KEYS


# ------------------------------------------------------------------- lock


class Lock:
  """An exclusive hold on a workdir for the life of a run.

  Use as a context manager, or `acquire()` / `release()`.
  """

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, LOCK_FILE)
    self._fd = None

  def acquire(self) -> "Lock":
    try:
      os.makedirs(os.path.dirname(self.path), exist_ok=True)
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
      raise UserError(f"cannot write to workdir "
                      f"{os.path.dirname(self.path)!r}: {e.strerror}; give a "
                      "writable --workdir") from None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      if not isinstance(e, BlockingIOError):  # e.g. ENOLCK on some NFS
        print(f"warning: cannot lock {self.path} ({e.strerror}); two runs "
              "on this workdir would not be kept apart", file=sys.stderr,
              flush=True)
        self._fd = fd
        return self
      holder = _read(fd)
      os.close(fd)
      raise UserError(
          f"workdir {os.path.dirname(self.path)!r} is in use by a live run "
          f"({describe(holder)}); wait for it, stop it, or use another "
          "--workdir") from None
    previous = _read(fd)
    if previous:  # Written by a run that died without releasing it.
      print(f"warning: taking over the lock of a run that is gone "
            f"({describe(previous)})", file=sys.stderr, flush=True)
    me = json.dumps(dict(host=socket.gethostname(), pid=os.getpid(),
                         started=_now()), sort_keys=True)
    os.ftruncate(fd, 0)
    os.pwrite(fd, me.encode(), 0)
    self._fd = fd
    return self

  def release(self) -> None:
    """Empties the lock file (kept, see below) and drops the lock.

    The file itself stays: unlinking it would let a run that opened it just
    before lock a file no one else can see.
    """
    if self._fd is None:
      return
    try:
      os.ftruncate(self._fd, 0)
    except OSError:
      pass
    os.close(self._fd)  # closing drops the flock
    self._fd = None

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()


def _read(fd) -> dict:
  try:
    text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
    return json.loads(text) if text else {}
  except (OSError, ValueError):
    return {"garbled": True}


def describe(holder: dict) -> str:
  if not holder or holder.get("garbled"):
    return "holder unknown"
  return (f"pid {holder.get('pid')} on host {holder.get('host')}, started "
          f"{holder.get('started')}")


def _now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).strftime(
      "%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------- config


def as_dict(config) -> dict:
  """The JSON form of a config (what config.json holds)."""
  return json.loads(config.to_json_best_effort())


def load(workdir: str) -> Optional[dict]:
  """The saved config of `workdir` (None when there is none)."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise UserError(f"{path} is unreadable ({e}); restore it or use a new "
                    "--workdir") from None


def differences(old: dict, new: dict, prefix: str = ""
                ) -> Dict[str, Tuple[object, object]]:
  """{dotted key: (old value, new value)} of every leaf that differs."""
  out = {}
  for key in sorted(set(old) | set(new)):
    a, b = old.get(key, _MISSING), new.get(key, _MISSING)
    name = f"{prefix}{key}"
    if isinstance(a, dict) and isinstance(b, dict):
      out.update(differences(a, b, name + "."))
    elif a != b:
      out[name] = (a, b)
  return out


class _Missing:

  def __repr__(self):
    return "(unset)"


_MISSING = _Missing()


def top(key: str) -> str:
  return key.split(".", 1)[0]


def listing(diffs: Dict[str, Tuple[object, object]], limit: int = 6) -> str:
  """"a.b (1 -> 2), c (x -> y)" for a one-line message."""
  items = [f"{k} ({_short(a)} -> {_short(b)})" for k, (a, b) in diffs.items()]
  more = len(items) - limit
  return ", ".join(items[:limit]) + (f" and {more} more" if more > 0 else "")


def _short(v) -> str:
  text = repr(v)
  return text if len(text) <= 40 else text[:37] + "..."


def check_resume(workdir: str, config, allow_change: bool = False
                 ) -> Dict[str, Tuple[object, object]]:
  """Checks `config` against the config of the run in `workdir`.

  Returns the allowed changes of training settings (empty when the configs
  agree but for `FREE_KEYS`, or when there is no saved config).

  Raises:
    UserError: a different model / tasks / method, or changed training
      settings without `allow_change`.
  """
  saved = load(workdir)
  if saved is None:
    return {}
  diffs = differences(saved, as_dict(config))
  identity = {k: v for k, v in diffs.items() if top(k) in IDENTITY_KEYS}
  if identity:
    keys = sorted({top(k) for k in identity})
    raise UserError(
        f"workdir {workdir!r} holds a run with a different "
        f"{', '.join(repr(k) for k in keys)} config ({listing(identity)}); "
        "use a new --workdir or the original config")
  changed = {k: v for k, v in diffs.items() if top(k) not in FREE_KEYS}
  if changed and not allow_change:
    raise UserError(
        f"resuming {workdir!r} with changed training settings: "
        f"{listing(changed)}; use the original config, a new --workdir, or "
        "--allow_config_change to continue with the change (recorded in "
        f"{CHANGES_FILE})")
  return changed


def record_changes(workdir: str, step: int, changes) -> None:
  """Appends an allowed config change to `<workdir>/config_changes.jsonl`."""
  line = json.dumps(dict(step=step, time=_now(), changes={
      k: [_jsonable(a), _jsonable(b)] for k, (a, b) in changes.items()}),
                    sort_keys=True)
  with open(os.path.join(workdir, CHANGES_FILE), "a") as f:
    f.write(line + "\n")


def _jsonable(v):
  return None if v is _MISSING else v


def save(workdir: str, config) -> None:
  """Writes config.json (atomically) unless it already holds `config`."""
  mine = as_dict(config)
  if load(workdir) == mine:
    return
  atomic_write(os.path.join(workdir, CONFIG_FILE),
               json.dumps(mine, indent=2, sort_keys=True))


def atomic_write(path: str, text: str) -> None:
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".",
                             prefix=".tmp-")
  try:
    with os.fdopen(fd, "w") as f:
      f.write(text)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def check_eval(workdir: str, config, other_data: bool = False
               ) -> Dict[str, Tuple[object, object]]:
  """Checks an eval config against the run's saved config.

  Only evaluation settings and run-control keys may differ; with
  `other_data`, `data` may differ too. Returns the `data` differences.

  Raises:
    UserError: any other difference, naming the keys.
  """
  saved = load(workdir)
  if saved is None:
    return {}
  diffs = differences(saved, as_dict(config))
  allowed = set(FREE_KEYS) | ({"data"} if other_data else set())
  bad = {k: v for k, v in diffs.items() if top(k) not in allowed}
  if bad:
    data_hint = (" (to evaluate on other data, pass --other_data)"
                 if all(top(k) == "data" for k in bad) else "")
    raise UserError(
        f"the config differs from the one {workdir!r} was trained with: "
        f"{listing(bad)}{data_hint}; leave --config out to use the run's "
        f"own ({CONFIG_FILE})")
  return {k: v for k, v in diffs.items() if top(k) == "data"}
