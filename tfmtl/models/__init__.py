"""Multi-task models: each returns a dict keyed by task name (see base.py)."""

from tfmtl.models.base import MultiTaskModel
from tfmtl.models.hard_sharing import HardSharingMLP
from tfmtl.models.pose_flow import PoseFlowNet
from tfmtl.registry import Registry

MODELS = Registry("model", {
    "hard_sharing": HardSharingMLP,
    "pose_flow": PoseFlowNet,
})


def get(name, **kwargs) -> MultiTaskModel:
  """Builds the model registered as `name`; unknown names list the known."""
  return MODELS.get(name, **kwargs)
