"""Exception types for mistakes a user can fix.

Entry points catch `UserError`, print its message as a single line and exit
non-zero; anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
  """Bad input: the message names the thing that is wrong and how to fix it."""

  # Raised while a tf.function traces (a label of the wrong shape found in
  # the step), autograph would otherwise rewrap it as "in user code: ..."
  # with a traceback of the step's source, or as a StagingError.
  ag_pass_through = True


class NonFiniteError(UserError):
  """Training stopped: too many updates in a row had a non-finite loss or
  gradient (see `max_nonfinite_skips`)."""


# What a data check inside the step prints through tf.debugging.Assert;
# `from_op_error` finds it in the op error TensorFlow raises.
DATA_ERROR = "tfmtl data error: "
"""Prefix of the data-check messages the step asserts."""


def from_op_error(error) -> "UserError | None":
  """The UserError a tfmtl data check inside a graph reported, or None.

  A check that can only run on values (negative sample weights) fails as a
  `tf.errors.InvalidArgumentError` whose message holds `DATA_ERROR` and the
  one-line explanation, surrounded by graph context nobody needs.
  """
  text = str(getattr(error, "message", error))
  at = text.find(DATA_ERROR)
  if at < 0:
    return None
  line = text[at + len(DATA_ERROR):].splitlines()[0]
  # The assert prints its message as a quoted string.
  line = line.replace("\\'", "'").rstrip("]").strip()
  return UserError(line)


class UserCodeError(UserError):
  """A user's own function (`module:function` in a config) raised.

  Its traceback is the useful part, so entry points print the traceback of
  `error` (the user's exception) and then this one line naming which user
  function raised it (`tfmtl.cli.report`).
  """

  def __init__(self, what: str, error: BaseException):
    first = (str(error).strip().splitlines() or [""])[0]
    super().__init__(f"{what} raised {type(error).__name__}"
                     + (f": {first}" if first else ""))
    self.what, self.error = what, error


def guard(fn, what: str):
  """`fn` whose exceptions (other than UserError) become `UserCodeError`s
  naming `what` ("loss 'mymod:loss' of task 'y1'"), the user's exception
  kept as `error` and `__cause__`. Works eagerly and while a tf.function
  traces (UserError passes through autograph unchanged)."""
  def guarded(*args, **kwargs):
    try:
      return fn(*args, **kwargs)
    except UserError:
      raise
    except Exception as e:  # pylint: disable=broad-except
      raise UserCodeError(what, e) from e
  # Not functools.wraps: its __wrapped__ would let AutoGraph convert `fn`
  # in our place, without the try.
  guarded.__name__ = getattr(fn, "__name__", "guarded")
  guarded.__doc__ = getattr(fn, "__doc__", None)
  return guarded


# The texts of the errno values a failed write usually comes down to; a
# message holding one keeps it however long the rest is (`reason`).
_ERRNO_TEXTS = ("No space left on device", "Disk quota exceeded",
                "Read-only file system", "Permission denied",
                "No such file or directory", "Not a directory",
                "Is a directory", "Input/output error", "File too large",
                "Too many open files")


def reason(error, limit: int = 240) -> str:
  """One line saying why `error` (an OSError or a TensorFlow OpError)
  happened, for an `error:` line.

  TensorFlow prefixes op errors with `{{function_node ...}}` and suffixes
  them with `[Op:...]`; both go. The errno text ("No space left on
  device", ...) is kept even when the line is cut to `limit` characters
  (a long temporary path would otherwise push it off the end).
  """
  import re  # pylint: disable=g-import-not-at-top
  if isinstance(error, OSError) and error.strerror:
    text = (f"{error.filename}: {error.strerror}" if error.filename
            else error.strerror)
  else:
    text = str(getattr(error, "message", None) or error)
  text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
  lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
  first = re.sub(r"\s*\[Op:[^\]]*\]\s*$", "", lines[0] if lines else "")
  found = next((t for t in _ERRNO_TEXTS if t in text), None)
  if found and found not in first:
    first = f"{first}; {found}" if first else found
  if len(first) <= limit:
    return first
  if found:
    at = first.rfind(found)
    head = limit - len(first[at:]) - 5
    return first[:max(head, 0)] + " ... " + first[at:]
  return first[:limit - 4] + " ..."
