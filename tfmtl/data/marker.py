"""The completion marker of a generated dataset (`scenes.json`).

`tfmtl.data.scenes.write_dataset` writes `<layout root>/scenes.json` with
`"complete": false` before the first sample and replaces it (atomically)
with `"complete": true` after the last, so a generation that was killed or
failed leaves a dataset the readers refuse instead of training on a part of
it. Real datasets have no marker and are read as they are.
"""

import json
import os
import tempfile

from tfmtl.errors import UserError

MARKER = "scenes.json"


def write(root: str, complete: bool, **info) -> None:
  """Writes the marker of the dataset at `root` (atomically)."""
  os.makedirs(root, exist_ok=True)
  text = json.dumps(dict(info, generator="tfmtl.data.scenes",
                         complete=bool(complete)), indent=2, sort_keys=True)
  fd, tmp = tempfile.mkstemp(dir=root, prefix=".marker-")
  with os.fdopen(fd, "w") as f:
    f.write(text + "\n")
  os.chmod(tmp, 0o644)
  os.replace(tmp, os.path.join(root, MARKER))


def check(root: str) -> None:
  """Refuses a generated dataset whose generation did not finish."""
  path = os.path.join(root, MARKER)
  if not os.path.exists(path):
    return
  try:
    with open(path) as f:
      complete = json.load(f).get("complete") is True
  except (OSError, ValueError, AttributeError):
    complete = False
  if not complete:
    raise UserError(
        f"{root!r} is a generated dataset whose generation did not finish "
        f"({path} does not say complete); generate it again with python -m "
        "tfmtl.data.scenes --out=... --overwrite")
