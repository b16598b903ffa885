"""Loss-level balancing methods (see base.py for the contract)."""

from tfmtl.registry import Registry
from tfmtl.weighting.base import Weighting
from tfmtl.weighting.dtp import DTP
from tfmtl.weighting.dwa import DWA
from tfmtl.weighting.famo import FAMO
from tfmtl.weighting.fixed import Fixed
from tfmtl.weighting.gls import GLS
from tfmtl.weighting.gradnorm import GradNorm
from tfmtl.weighting.imtl_l import IMTLL
from tfmtl.weighting.pseudo_gradnorm import PseudoGradNorm
from tfmtl.weighting.rlw import RLW
from tfmtl.weighting.si import ScaleInvariant
from tfmtl.weighting.stch import STCH
from tfmtl.weighting.uncertainty import Uncertainty

WEIGHTINGS = Registry("weighting method", {
    "fixed": Fixed,
    "uncertainty": Uncertainty,
    "gradnorm": GradNorm,
    "dwa": DWA,
    "dtp": DTP,
    "rlw": RLW,
    "pseudo_gradnorm": PseudoGradNorm,
    "famo": FAMO,
    "gls": GLS,
    "si": ScaleInvariant,
    "stch": STCH,
    "imtl_l": IMTLL,
})
"""The loss-level methods by name (`config.method`); `get` builds one."""


def get(name, **kwargs) -> Weighting:
  """Builds the weighting method `name`; unknown names list the known ones."""
  return WEIGHTINGS.get(name, **kwargs)
