"""cost(): layer-by-layer MACs against TensorFlow's profiler and by hand."""

import sys

import tfmtl.models
from tfmtl.models.dual_encoder import DualEncoder
from tfmtl.models.hard_sharing_conv import HardSharingConv
from tfmtl.models.mtan import MTAN
from tfmtl.models.segnet import SegNet

cost_lib = sys.modules["tfmtl.models.cost"]


def test_macs_equal_half_the_profiler_flops():
  # TF's registered statistics count Conv2D / DepthwiseConv2dNative FLOPs
  # as 2 · output elements · kernel volume, i.e. exactly 2 · MACs.
  for model in (SegNet(tasks={"depth": 1, "semantic": 7}, width=0.125),
                MTAN(tasks={"depth": 1, "semantic": 7}, width=0.125),
                DualEncoder(width=0.25)):
    c = tfmtl.models.cost(model, (32, 64))
    assert c.macs > 0
    assert cost_lib.profiler_flops(model, (32, 64)) == 2 * c.macs


def test_hand_counted_macs_and_task_paths():
  model = HardSharingConv(tasks={"depth": 1, "semantic": 7},
                          filters=[8, 16], head_filters=8)
  c = tfmtl.models.cost(model, (32, 64))
  h, w = 32, 64
  enc = (h // 2 * w // 2 * 8 * 9 * 3 + h // 2 * w // 2 * 8 * 9 * 8 +
         h // 4 * w // 4 * 16 * 9 * 8 + h // 4 * w // 4 * 16 * 9 * 16)
  head = lambda out: h // 4 * w // 4 * (8 * 9 * 16 + out * 8)
  assert c.macs == enc + head(1) + head(7)
  assert c.tasks["depth"].macs == enc + head(1)
  assert c.tasks["semantic"].macs == enc + head(7)
  assert c.params == model.count_params()


def test_single_form_tasks_cost_the_sum_and_mtan_pays_shared_attention():
  single = SegNet(tasks={"depth": 1, "semantic": 7}, form="single",
                  width=0.125)
  c = tfmtl.models.cost(single, (32, 32))
  assert c.tasks["depth"].macs + c.tasks["semantic"].macs == c.macs
  assert c.tasks["depth"].params + c.tasks["semantic"].params == c.params
  # MTAN: each task alone needs the shared SegNet plus its own attention
  # branch, so the whole network costs less than the two paths added up.
  mtan = MTAN(tasks={"depth": 1, "semantic": 7}, width=0.125)
  m = tfmtl.models.cost(mtan, (32, 32))
  assert max(t.macs for t in m.tasks.values()) < m.macs
  assert m.macs < sum(t.macs for t in m.tasks.values())
