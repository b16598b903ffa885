"""Gradient-level balancing methods (see base.py for the contract)."""

from tfmtl.aggregation.base import Aggregator
from tfmtl.aggregation.aligned_mtl import AlignedMTL
from tfmtl.aggregation.aligned_mtl_ub import AlignedMTLUB
from tfmtl.aggregation.atg import ATG
from tfmtl.aggregation.aux_project import AuxProject
from tfmtl.aggregation.cagrad import CAGrad
from tfmtl.aggregation.db_mtl import DBMTL
from tfmtl.aggregation.excess_mtl import ExcessMTL
from tfmtl.aggregation.conflict_free import ConflictFree
from tfmtl.aggregation.dualproj import DualProj
from tfmtl.aggregation.fairgrad import FairGrad
from tfmtl.aggregation.cosine import Cosine, CosineWeighted
from tfmtl.aggregation.graddrop import GradDrop
from tfmtl.aggregation.gradvac import GradVac
from tfmtl.aggregation.imtl import IMTL
from tfmtl.aggregation.imtl_hybrid import imtl_hybrid
from tfmtl.aggregation.krum import Krum
from tfmtl.aggregation.mgda import MGDA
from tfmtl.aggregation.mgda_ub import MGDAUB
from tfmtl.aggregation.modo import MoDo
from tfmtl.aggregation.moco import MoCo
from tfmtl.aggregation.metabalance import MetaBalance
from tfmtl.aggregation.nash_mtl import NashMTL
from tfmtl.aggregation.pcgrad import PCGrad
from tfmtl.aggregation.prf import PRF
from tfmtl.aggregation.sdmgrad import SDMGrad
from tfmtl.aggregation.sum import Mean, Sum
from tfmtl.aggregation.trimmed_mean import TrimmedMean
from tfmtl.aggregation.upgrad import UPGrad
from tfmtl.aggregation.solvers import GramianWeighted
from tfmtl import options
from tfmtl.errors import UserError
from tfmtl.registry import Registry

AGGREGATORS = Registry("aggregation method", {
    "sum": Sum,
    "mean": Mean,
    "pcgrad": PCGrad,
    "mgda": MGDA,
    "mgda_ub": MGDAUB,
    "cagrad": CAGrad,
    "graddrop": GradDrop,
    "imtl": IMTL,
    "nash_mtl": NashMTL,
    "aligned_mtl": AlignedMTL,
    "aligned_mtl_ub": AlignedMTLUB,
    "upgrad": UPGrad,
    "atg": ATG,
    "prf": PRF,
    "modo": MoDo,
    "sdmgrad": SDMGrad,
    "gradvac": GradVac,
    "db_mtl": DBMTL,
    "moco": MoCo,
    "excess_mtl": ExcessMTL,
    "dualproj": DualProj,
    "conflict_free": ConflictFree,
    "krum": Krum,
    "trimmed_mean": TrimmedMean,
    "fairgrad": FairGrad,
    "imtl_hybrid": imtl_hybrid,
    "cosine": Cosine,
    "cosine_weighted": CosineWeighted,
    "aux_project": AuxProject,
    "metabalance": MetaBalance,
})
"""The gradient-level methods by name (`config.method`); `get` builds one."""


def get(name, **kwargs) -> Aggregator:
  """Builds the aggregator `name`; unknown names list the known ones.

  `rep_grad=True` runs a Gramian-based method (`GramianWeighted`) at the
  representation level (see its docstring); other methods have no such
  form and refuse it.
  """
  factory = AGGREGATORS.factory(name)
  gramian = "rep_grad" in options.shared_of(factory) if isinstance(
      factory, type) else False
  if "rep_grad" in kwargs and not gramian:
    if kwargs.pop("rep_grad") is not False:
      on = sorted(n for n in AGGREGATORS.names()
                  if isinstance(AGGREGATORS.factory(n), type) and
                  "rep_grad" in options.shared_of(AGGREGATORS.factory(n)))
      raise UserError(
          f"method {name!r} has no representation-level form (rep_grad): "
          "its rule isn't a function of the Gramian; those that have one: "
          f"{', '.join(on)}")
  return AGGREGATORS.get(name, **kwargs)
