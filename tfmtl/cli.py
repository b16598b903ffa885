"""Flag parsing for train.py / eval.py: a broken config file is one line.

ml_collections executes the `--config` file while the flags are parsed, so
a syntax error in it, or an exception its `get_config` raises, would end in
a traceback before `main` runs. `parse_flags` reports either as one
`error:` line naming the file and line, and exits 2; exceptions raised
anywhere else keep their traceback (they are bugs).
"""

import os
import sys
import traceback

from tfmtl import experiment
from tfmtl.errors import UserCodeError


def parse_flags(argv):
  """`experiment.parse_flags`, plus one-line errors for the config file."""
  try:
    return experiment.parse_flags(argv)
  except SyntaxError as e:
    msg = (f"config file {e.filename}, line {e.lineno}: syntax error: "
           f"{e.msg}")
  except Exception as e:  # pylint: disable=broad-except
    frame = _config_frame(e, _config_path(argv))
    if frame is None:
      raise
    first = (str(e).splitlines() or [""])[0][:200]
    msg = (f"config file {frame.filename}, line {frame.lineno} (in "
           f"{frame.name}): {type(e).__name__}: {first}")
  print(f"error: {msg}", file=sys.stderr)
  sys.exit(2)


def _config_path(argv):
  """The file of `--config=FILE[:arg]` (or `--config FILE`) in argv."""
  for i, a in enumerate(argv):
    if a.startswith("--config="):
      value = a[len("--config="):]
    elif a == "--config" and i + 1 < len(argv):
      value = argv[i + 1]
    else:
      continue
    return os.path.abspath(value.split(":", 1)[0])
  return None


def _config_frame(error, path):
  """The innermost traceback frame of `error` inside the config file."""
  if path is None:
    return None
  frames = [f for f in traceback.extract_tb(error.__traceback__)
            if os.path.abspath(f.filename) == path]
  return frames[-1] if frames else None


def report(error) -> None:
  """Prints a UserError the way every entry point does: `error: <line>` on
  stderr; for a UserCodeError (a user's own function raised) the user's
  traceback comes first, the line after it says which function it was."""
  if isinstance(error, UserCodeError):
    raised = error.error
    # Raised while a tf.function traced: AutoGraph mapped its frames back
    # to the user's source (the Python traceback shows generated files).
    meta = getattr(raised, "ag_error_metadata", None)
    if meta is not None:
      print(f"Traceback (while a tf.function traced), {meta.get_message()}",
            file=sys.stderr)
    else:
      traceback.print_exception(type(raised), raised, raised.__traceback__)
  print(f"error: {error}", file=sys.stderr, flush=True)


def unexpected(argv) -> None:
  """train.py / eval.py take flags only: a stray argument is one line."""
  if len(argv) > 1:
    print(f"error: unexpected argument(s) {argv[1:]}: give flags as "
          "--name=value (see --helpshort)", file=sys.stderr)
    sys.exit(2)


def output_path(flag: str, path) -> None:
  """A tool's output file can be written: its folder exists (checked
  before the work, not after)."""
  from tfmtl.errors import UserError  # pylint: disable=g-import-not-at-top
  if not path:
    return
  folder = os.path.dirname(os.path.abspath(path))
  if os.path.isdir(path):
    raise UserError(f"--{flag}={path!r} is a directory; give a file name")
  if not os.path.isdir(folder):
    raise UserError(f"--{flag}={path!r}: folder {folder!r} does not exist; "
                    "create it or give another path")
  if not os.access(folder, os.W_OK):
    raise UserError(f"--{flag}={path!r}: folder {folder!r} is not "
                    "writable")


def workdirs(paths, what: str = "evaluated runs") -> None:
  """Every positional workdir of a tool is a directory."""
  from tfmtl.errors import UserError  # pylint: disable=g-import-not-at-top
  for path in paths:
    if not os.path.isdir(path):
      state = "is not a directory" if os.path.exists(path) else \
          "does not exist"
      raise UserError(f"workdir {path!r} {state}; give workdirs of {what}")
