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
    traceback.print_exception(type(error.error), error.error,
                              error.error.__traceback__)
  print(f"error: {error}", file=sys.stderr, flush=True)
