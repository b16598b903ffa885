"""`jit_compile="auto"`: time the step with and without XLA, keep the faster.

Whether XLA pays depends on the network and the device more than on the
method: issue 26 measured it at 0.6× the uncompiled step on a conv net,
while on this project's 2-core CPU it was 1.0–1.3× slower on another conv
net and 4× slower on the demo's dual encoder, and the issue found it 3.3×
slower on the seed MLP (BENCHMARKS.md "XLA or not"). So "auto" measures. Its first steps are real training
steps: the uncompiled step is traced and timed, and when it is fast enough
that a compile could matter at all (`MIN_STEP_S`), the XLA step is compiled
and the two are timed in alternation; the faster form runs from then on.

The choice is kept in a variable that the checkpoint saves (`Counters.xla`),
so a resumed run continues with the form it chose and stays exact. With op
determinism on (`tf.config.experimental.enable_op_determinism`), "auto"
never times: a choice made by the clock would make two runs differ.
"""

import statistics
import time
from typing import Callable, Optional

import tensorflow as tf
from tensorflow.python.framework import config as tf_config

UNDECIDED, PLAIN, XLA = -1, 0, 1
# Below this, a step's time is launch overhead that XLA doesn't remove, and
# its seconds of compile are never won back.
MIN_STEP_S = 0.05
# Timed calls of each form after its first (traced) one.
ROUNDS = 3


def resolve(value) -> object:
  """True, False or "auto" from a user's setting (a typo is an error)."""
  if value is True or value is False or value == "auto":
    return value
  if value in (None, 0, 1):
    return bool(value)
  raise ValueError(f"jit_compile must be True, False or 'auto', not "
                   f"{value!r}")


def _sync(out):
  """Waits for a step's result (device calls may return before it is
  done), so the clock measures the step."""
  for x in tf.nest.flatten(out):
    if isinstance(x, (tf.Tensor, tf.Variable)):
      x.numpy()
      return


class Chooser:
  """Runs `plain` or `xla` (two compiled forms of one step) and decides
  between them on the first calls.

  Args:
    plain, xla: the step without and with XLA; `xla=None` when XLA can't
      run the step (then "auto" is off, with `why` saying so).
    choice: an int64 variable (UNDECIDED, PLAIN or XLA) the checkpoint
      saves; a restored choice is used as it is.
    on_choice: called with (form, message) once decided.
    say: where the one-line message goes (None: stdout).
  """

  def __init__(self, plain: Callable, xla: Optional[Callable],
               choice: tf.Variable, on_choice: Callable = None,
               why: str = "", say: Optional[Callable[[str], None]] = None):
    self.plain, self.xla, self.choice = plain, xla, choice
    self.on_choice, self.why = on_choice, why
    self.say = say or (lambda m: print(m, flush=True))
    self.times = {PLAIN: [], XLA: []}
    self._calls = {PLAIN: 0, XLA: 0}
    self.message = ""

  @property
  def decided(self) -> bool:
    return int(self.choice.numpy()) != UNDECIDED

  @property
  def form(self) -> Callable:
    """The chosen form (the uncompiled one while undecided)."""
    return self.xla if int(self.choice.numpy()) == XLA else self.plain

  def __call__(self, *args):
    if self.decided:
      self._decide(int(self.choice.numpy()), "restored from the checkpoint")
      return self.form(*args)
    if self.xla is None or tf_config.is_op_determinism_enabled():
      why = self.why or "op determinism is on (a timed choice would differ " \
          "between runs)"
      self._decide(PLAIN, why)
      return self.plain(*args)
    form = self._next_form()
    if form == XLA and not self._calls[XLA]:
      try:  # the compile: a model XLA can't compile keeps the plain form
        out = self._timed(form, *args)
      except (tf.errors.OpError, ValueError, TypeError,
              NotImplementedError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        self._decide(PLAIN, f"XLA failed to compile the step: {first[:200]}")
        return self.plain(*args)
      self._maybe_decide()
      return out
    out = self._timed(form, *args)
    self._maybe_decide()
    return out

  def _next_form(self):
    p, x = self._calls[PLAIN], self._calls[XLA]
    if p < 2:  # the trace, then one timed step
      return PLAIN
    return XLA if x <= p - 2 else PLAIN

  def _timed(self, form, *args):
    fn = self.xla if form == XLA else self.plain
    start = time.perf_counter()
    out = fn(*args)
    _sync(out)
    if self._calls[form]:  # the first call traces (and compiles)
      self.times[form].append(time.perf_counter() - start)
    self._calls[form] += 1
    return out

  def _maybe_decide(self):
    plain, xla = self.times[PLAIN], self.times[XLA]
    if len(plain) == 1 and plain[0] < MIN_STEP_S and not xla:
      self._decide(PLAIN, f"the step takes {plain[0] * 1e3:.1f} ms, below "
                   f"the {MIN_STEP_S * 1e3:.0f} ms where XLA could pay")
    elif len(xla) >= ROUNDS and len(plain) >= ROUNDS:
      # The last rounds of each: taken in alternation, under the same load.
      p = statistics.median(plain[-ROUNDS:])
      x = statistics.median(xla[-ROUNDS:])
      form = XLA if x < p else PLAIN
      self._decide(form, f"{x * 1e3:.1f} ms a step with XLA against "
                   f"{p * 1e3:.1f} ms without (medians of {ROUNDS})")

  def _decide(self, form: int, why: str):
    if self.message:
      return
    self.choice.assign(form)
    name = "XLA" if form == XLA else "no XLA"
    self.message = f"jit_compile='auto': {name} ({why})"
    if self.on_choice:
      self.on_choice(form, self.message)
    self.say(self.message)
