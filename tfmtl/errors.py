"""One exception type for mistakes a user can fix.

Entry points catch `UserError`, print its message as a single line and exit
non-zero; anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
  """Bad input: the message names the thing that is wrong and how to fix it."""
