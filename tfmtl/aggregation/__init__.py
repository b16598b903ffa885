"""Gradient-level balancing methods (see base.py for the contract)."""

from tfmtl.aggregation.base import Aggregator
from tfmtl.aggregation.aligned_mtl import AlignedMTL
from tfmtl.aggregation.aligned_mtl_ub import AlignedMTLUB
from tfmtl.aggregation.atg import ATG
from tfmtl.aggregation.aux_project import AuxProject
from tfmtl.aggregation.cagrad import CAGrad
from tfmtl.aggregation.cosine import Cosine, CosineWeighted
from tfmtl.aggregation.graddrop import GradDrop
from tfmtl.aggregation.imtl import IMTL
from tfmtl.aggregation.mgda import MGDA
from tfmtl.aggregation.mgda_ub import MGDAUB
from tfmtl.aggregation.metabalance import MetaBalance
from tfmtl.aggregation.nash_mtl import NashMTL
from tfmtl.aggregation.pcgrad import PCGrad
from tfmtl.aggregation.prf import PRF
from tfmtl.aggregation.sum import Mean, Sum
from tfmtl.aggregation.upgrad import UPGrad
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
    "cosine": Cosine,
    "cosine_weighted": CosineWeighted,
    "aux_project": AuxProject,
    "metabalance": MetaBalance,
})


def get(name, **kwargs) -> Aggregator:
  """Builds the aggregator `name`; unknown names list the known ones."""
  return AGGREGATORS.get(name, **kwargs)
