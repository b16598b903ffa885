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
