"""The contract between the train step and every balancing method.

A method is a `Method`: a `tf.Module` whose options are checked when it is
built (tfmtl/options.py) and whose *declared* attributes below are all the
engine reads of it. They are class attributes with defaults here, set by a
method's class (never by its instances: once built, a method's contract is
fixed and assigning one raises):

  needs            frozenset of `Need`: what the step computes for the method
                   besides the losses (weightings) or J (aggregators)
  needs_when       {Need: rule(options) -> bool}: needs an option turns on
                   (PCGrad's `randomised` needs the step). The one rule:
                   a built method's `needs` = the class's `needs` ∪ every
                   need of a `needs_when` (of the class or a base) whose
                   rule holds for its options, resolved once, before
                   `__init__` runs
  shared_options   options every subclass takes besides its own signature
                   (`rep_grad` of the Gramian-based aggregators)
  handles_absent   the method takes `present=` and leaves absent tasks out
                   itself (else the step restricts it to the present tasks,
                   aggregation/absent.py)
  min_tasks        the fewest tasks its rule works with
  batches_per_step K > 1: the step draws K independent batches (MoDo)
  xla_ok, xla_reason  whether the step may be compiled with XLA, and why not
  variance_tasks() names of the tasks whose per-sample variance it reads
                   (None: all), with Need.VARIANCE, after build
  variance_due()   a bool tensor: compute the variance this step (None:
                   every step), with Need.VARIANCE
  setup()          how it reads these tasks, for start-up lines
  logs()           extra scalars for summaries

What the step computes for a method reaches it as one `StepInputs`, holding
exactly what it declared (and `present`, for methods that handle absent
tasks); `kwargs()` spreads it into the method's call.
"""

import dataclasses
import enum
from typing import Callable, Dict, FrozenSet, Iterable, Optional

import tensorflow as tf

from tfmtl.errors import UserError
from tfmtl.options import Configurable


class Need(enum.StrEnum):
  """What a method can ask the step for. A Need is its name as a string
  too (`Need.LOSSES == "losses"`, and hashes as it), so methods and their
  callers may write either; anything else is refused when the class is
  defined (`as_needs`)."""

  __hash__ = str.__hash__

  # Aggregators (gradient level):
  VARIANCE = "variance"        # per-sample gradient variance [T, n]
  LOSSES = "losses"            # the global task losses [T]
  STEP = "step"                # the optimizer's step (random draws per step)
  REPRESENTATION = "representation"  # the Gramian of the gradients w.r.t.
  #                                    the shared representation, not J
  LOSS_WEIGHTS = "loss_weights"  # a composition's weighting's weights [T]
  # Weightings (loss level):
  GRAD_NORMS = "grad_norms"    # ‖∇_W L_t‖ on the watched shared layer W
  KPIS = "kpis"                # per-task KPIs in [0, 1] (Task.kpi)
  LOSSES_AFTER = "losses_after"  # the batch's losses after the update


GRADIENT_NEEDS = frozenset({Need.VARIANCE, Need.LOSSES, Need.STEP,
                            Need.REPRESENTATION, Need.LOSS_WEIGHTS})
LOSS_NEEDS = frozenset({Need.GRAD_NORMS, Need.KPIS, Need.LOSSES_AFTER})


def as_needs(values: Iterable, allowed: FrozenSet[Need],
             where: str) -> FrozenSet[Need]:
  """`values` (Need members or their names) as Needs; anything else, or a
  need of the other family, is a UserError listing what `where` may need."""
  out = set()
  for v in values:
    try:
      need = v if isinstance(v, Need) else Need(v)
    except ValueError:
      need = None
    if need is None or need not in allowed:
      known = ", ".join(sorted(n.value for n in allowed))
      raise UserError(f"{where}: unknown need {v!r}; it may need: {known}")
    out.add(need)
  return frozenset(out)


# The declared attributes an instance may not assign.
CONTRACT = ("needs", "needs_when", "shared_options", "handles_absent",
            "min_tasks", "batches_per_step", "xla_ok", "xla_reason")


class Method(Configurable, tf.Module):
  """Base of both families (tfmtl.weighting.Weighting and
  tfmtl.aggregation.Aggregator); see the module docstring."""

  ALLOWED_NEEDS: FrozenSet[Need] = frozenset()
  needs: FrozenSet[Need] = frozenset()
  needs_when: Dict[Need, Callable[[dict], bool]] = {}
  handles_absent: bool = False
  min_tasks: int = 1
  batches_per_step: int = 1
  xla_ok: bool = True
  xla_reason: str = ""
  # The checked constructor arguments (Configurable sets them per instance).
  options: dict = {}

  def __init_subclass__(cls, **kwargs):
    super().__init_subclass__(**kwargs)
    allowed = cls.ALLOWED_NEEDS or GRADIENT_NEEDS | LOSS_NEEDS
    if "needs" in cls.__dict__:
      cls.needs = as_needs(cls.__dict__["needs"], allowed, cls.__name__)
    if "needs_when" in cls.__dict__:
      cls.needs_when = dict(zip(
          as_needs(cls.__dict__["needs_when"], allowed, cls.__name__),
          cls.__dict__["needs_when"].values()))

  def resolve_needs(self, options: dict) -> FrozenSet[Need]:
    """The one rule (module docstring): the class's needs and those its
    options turn on (`needs_when` of the class and of its bases)."""
    rules = [(n, rule) for klass in type(self).__mro__
             for n, rule in vars(klass).get("needs_when", {}).items()]
    return frozenset(type(self).needs | {n for n, rule in rules
                                         if rule(options)})

  def _sealed(self):
    return self.__dict__.get("_contract_sealed", False)

  def __setattr__(self, name, value):
    if name in CONTRACT and self._sealed():
      raise AttributeError(
          f"{type(self).__name__}.{name} is part of the declared method "
          "contract (tfmtl/method_base.py): set it on the class, or make an "
          "option turn a need on with needs_when")
    super().__setattr__(name, value)

  def variance_tasks(self) -> Optional[list]:
    """After build: names of the tasks whose per-sample variance the method
    reads (None: every task). Read only with Need.VARIANCE."""
    return None

  def variance_due(self) -> Optional[tf.Tensor]:
    """A bool tensor, the same on every replica: compute the per-sample
    variance this step (None: every step). Read only with Need.VARIANCE."""
    return None

  def setup(self) -> str:
    """After build: how the method reads these tasks, where its rule
    depends on them (uncertainty's forms), for start-up lines; "" if
    nothing to say."""
    return ""

  def logs(self) -> Dict[str, tf.Tensor]:
    """Extra scalars for summaries (global values)."""
    return {}


@dataclasses.dataclass
class StepInputs:
  """What the step hands a method, beyond J (aggregators) or the losses
  (weightings): only the fields the method declared are set.

  Attributes:
    losses: [T] global task losses (Need.LOSSES).
    step: the optimizer's step (Need.STEP).
    variance: [T, n] per-sample gradient variance (Need.VARIANCE).
    loss_weights: [T] a composition's weighting's weights
      (Need.LOSS_WEIGHTS).
    grad_norms: [T] ‖∇_W L_t‖ on the watched layer (Need.GRAD_NORMS).
    kpis: [T] KPIs (Need.KPIS).
    jacobians: [K, T, n] the K batches' Jacobians (batches_per_step = K).
    present: [T] bool, the tasks with a labelled example in the step
      (methods with handles_absent; None: every task).
  """
  losses: Optional[tf.Tensor] = None
  step: Optional[tf.Tensor] = None
  variance: Optional[tf.Tensor] = None
  loss_weights: Optional[tf.Tensor] = None
  grad_norms: Optional[tf.Tensor] = None
  kpis: Optional[tf.Tensor] = None
  jacobians: Optional[tf.Tensor] = None
  present: Optional[tf.Tensor] = None

  def kwargs(self) -> dict:
    """The fields that are set, as keyword arguments."""
    return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None}
