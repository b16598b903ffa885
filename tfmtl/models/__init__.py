"""Multi-task models: each returns a dict keyed by task name.

Any Keras model that does trains with tfmtl (split.py infers which variables
are shared); the models registered here are the ones tfmtl ships.
"""

from tfmtl.models.base import MultiTaskModel
from tfmtl.models.cost import cost
from tfmtl.models.cross_stitch import CrossStitch
from tfmtl.models.dual_encoder import DualEncoder
from tfmtl.models.hard_sharing_conv import HardSharingConv
from tfmtl.models.cgc import CGC
from tfmtl.models.dselect_k import DSelectK
from tfmtl.models.mmoe import MMoE
from tfmtl.models.mpnn import MPNN
from tfmtl.models.mtan import MTAN
from tfmtl.models.multi_lenet import MultiLeNet
from tfmtl.models.segnet import SegNet
from tfmtl.models.segnet_dense import SegNetDense
from tfmtl.models.hard_sharing import HardSharingMLP
from tfmtl.models.ple import PLE
from tfmtl.models.pose_flow import PoseFlowNet
from tfmtl.models.split import TaskSplit, resolve
from tfmtl.registry import Registry

MODELS = Registry("model", {
    "hard_sharing": HardSharingMLP,
    "hard_sharing_conv": HardSharingConv,
    "segnet": SegNet,
    "mtan": MTAN,
    "segnet_dense": SegNetDense,
    "cross_stitch": CrossStitch,
    "dual_encoder": DualEncoder,
    "pose_flow": PoseFlowNet,
    "multi_lenet": MultiLeNet,
    "mmoe": MMoE,
    "cgc": CGC,
    "ple": PLE,
    "dselect_k": DSelectK,
    "mpnn": MPNN,
})
"""The models by name (`config.model.name`); `get` builds one."""


def get(name, **kwargs):
  """Builds the model registered as `name`; unknown names list the known."""
  return MODELS.get(name, **kwargs)
