"""SIGINT / SIGTERM (Ctrl-C, preemption) stop a run at a step boundary.

While a run trains, the first SIGINT or SIGTERM only sets a flag; the loop
sees it after the current step call, saves a checkpoint at that step and
then `reraise()` ends the process by the same signal (exit status 128 + n
in a shell, -n from Python's subprocess), as if the default action had
happened, but with nothing lost. A second signal while that is under way
takes the default action at once.
"""

import os
import signal
import sys
import threading
from typing import Optional

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
  """Context manager: defers SIGINT / SIGTERM while it is active.

  Outside the main thread (signal handlers can only be set there) it does
  nothing and `signum` stays None.
  """

  def __init__(self, enabled: bool = True):
    self.enabled = enabled and (
        threading.current_thread() is threading.main_thread())
    self.signum: Optional[int] = None
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    if self.signum is not None:  # asked twice: stop now
      self._restore()
      os.kill(os.getpid(), signum)
      return
    self.signum = signum
    print(f"\n{signal.Signals(signum).name} received: saving a checkpoint at "
          "the end of this step, then stopping (send it again to stop at "
          "once)", file=sys.stderr, flush=True)

  def __enter__(self):
    if self.enabled:
      for s in SIGNALS:
        self._previous[s] = signal.signal(s, self._handle)
    return self

  def __exit__(self, *exc):
    self._restore()

  def _restore(self):
    for s, handler in self._previous.items():
      signal.signal(s, handler)
    self._previous = {}

  def reraise(self) -> None:
    """Ends the process by the signal received (default action)."""
    if self.signum is None:
      return
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(self.signum, signal.SIG_DFL)
    os.kill(os.getpid(), self.signum)
    sys.exit(128 + self.signum)  # not reached for SIGINT / SIGTERM
