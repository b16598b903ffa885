"""Impossible settings, refused before anything is built or written.

Each check names the key, the value and what would be valid, so train.py
prints one line and exits 2 with an untouched workdir. `max_nonfinite_skips`
must be at least 1: there is no "never stop" setting (a run whose every
update is skipped would otherwise end with exit status 0 and `inf` metrics);
give a large number to tolerate long stretches of skipped updates.
"""

import numbers

from tfmtl.errors import UserError

# key: (smallest valid value, strictly greater?, what it means)
_BOUNDS = {
    "batch_size": (0, True, "examples per step"),
    "steps": (0, False, "train steps"),
    "epochs": (0, False, "train epochs (0: count steps instead)"),
    "log_every": (0, True, "steps between logs"),
    "checkpoint_every": (0, True, "steps between checkpoints"),
    "keep_checkpoints": (0, True, "checkpoints kept"),
    "eval_batch_size": (0, True, "examples per eval batch"),
    "clip_global_norm": (0, False, "the global-norm clip (0 = off)"),
    "max_nonfinite_skips": (0, True, "non-finite updates in a row before "
                                     "stopping; there is no 'never'"),
}


def check(config) -> None:
  """Raises UserError for the first impossible setting of `config`."""
  for key, (bound, strict, meaning) in _BOUNDS.items():
    if key not in config:
      continue
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
      raise UserError(f"config.{key} = {value!r} must be a number ({meaning})")
    if value != value or (value <= bound if strict else value < bound):
      need = f"> {bound}" if strict else f">= {bound}"
      raise UserError(f"config.{key} = {value!r} must be {need} ({meaning})")
  optimizer = config.get("optimizer") or {}
  lr = optimizer.get("learning_rate", None)
  if isinstance(lr, numbers.Real) and not isinstance(lr, bool) and (
      not lr > 0 or lr == float("inf")):
    raise UserError(f"config.optimizer.learning_rate = {lr!r} must be a "
                    "positive finite number")
  for pattern, c in dict(config.get("clip_by_value") or {}).items():
    if not isinstance(c, numbers.Real) or not c > 0:
      raise UserError(f"config.clip_by_value[{pattern!r}] = {c!r} must be a "
                      "positive number")
