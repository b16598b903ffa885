r"""PRF on the pose + flow network (the reference of Al Hasib et al., 2023).

Ego-motion (trans, rot; main tasks, rot the PRF reference) with optical flow
as the auxiliary task whose shared-layer gradient is scaled elementwise by
the probability ratio β (tfmtl/aggregation/prf.py). Reference
hyper-parameters: weights trans 1 / rot 10 / flow 0.1, Adam 5e-4, batch 16,
128×320 frame pairs, 35 epochs, the 9 shared conv kernels' gradients clipped
to ±2e-6, KITTI odometry with the reference split. Flow labels are mapped to
[0, 1] by the train split's range (`flow_range="train"`), since the
reference's flow loss clips labels to [0, 1]; flow EPE is reported in pixels.

Run:
  python train.py --config=configs/vo_prf.py \
      --config.data.kwargs.root=~/data/kitti_odometry --workdir=runs/vo_prf
  python train.py --config=configs/vo_prf.py:scenes --workdir=runs/vo_prf_s
  python train.py --config=configs/vo_prf.py:runlocal --workdir=/tmp/vo_prf

`arg` is a comma-separated list: `scenes` trains on procedural drives in the
KITTI layout (generated once, cached); `runlocal` shrinks the run to CPU
size on them (64×160 frames, width 0.25, batch 8, 30 steps); `coupled` uses
the seed's coupled per-sample statistics instead of the independent ones;
`main_only` trains trans and rot alone (no flow task: the baseline that
tells whether the auxiliary task helps at all; the flow head is left out).
TensorBoard shows `beta/<layer>` (mean β per shared layer) next to the task
losses.
"""

import ml_collections

from configs import common
from tfmtl.errors import UserError

# The 9 shared conv kernels of pose_flow (paths like
# "pose_flow_net/shared_conv_3/kernel"); biases and BatchNorm are unclipped.
SHARED_KERNELS = r"shared_conv_\d+/kernel$"
ARGS = ("scenes", "runlocal", "coupled", "main_only")


def get_config(arg: str = "", method: str = "prf"):
  args = common.parse_args(arg)
  unknown = sorted(set(args) - set(ARGS))
  if unknown:
    raise UserError(f"configs/vo_{method}.py: unknown argument(s) {unknown}; "
                    f"known: {', '.join(ARGS)} (comma-separated)")
  c = common.base_config()
  c.data = ml_collections.ConfigDict(dict(
      name="kitti_odometry",
      kwargs=dict(root="~/data/kitti_odometry", height=128, width=320,
                  with_flow=True, flow_range="train")))
  c.model = ml_collections.ConfigDict(dict(
      name="pose_flow", kwargs=dict(width=1.0)))
  c.tasks = ml_collections.ConfigDict(dict(
      trans=dict(loss="l1", weight=1.0, role="main"),
      rot=dict(loss="l1", weight=10.0, role="main"),
      flow=dict(loss="flow_log_rmse", weight=0.1, role="aux")))
  c.method = method
  c.method_kwargs = ml_collections.ConfigDict(dict(
      prf=dict(main_task="rot")))
  c.optimizer = ml_collections.ConfigDict(dict(name="adam",
                                               learning_rate=5e-4))
  c.batch_size = 16
  c.steps = 35 * 17000 // 16  # 35 epochs of the ~17k training pairs
  c.clip_by_value = ml_collections.ConfigDict({SHARED_KERNELS: 2e-6})
  c.per_sample_mode = "coupled" if "coupled" in args else "independent"
  c.log_every = 50
  c.checkpoint_every = 1000
  c.eval_split = "test"
  c.eval_batch_size = 16
  if "scenes" in args or "runlocal" in args:
    c.data = ml_collections.ConfigDict(dict(
        name="scenes_vo", kwargs=dict(num=1100, height=128, width=320,
                                      flow_range="train")))
    c.steps = 3000
  if "main_only" in args:
    del c.tasks["flow"]
    c.method = "fixed"
  if "runlocal" in args:
    c.data.kwargs = dict(num=132, height=64, width=160, flow_range="train")
    c.model.kwargs.width = 0.25
    c.batch_size = 8
    c.eval_batch_size = 8
    c.steps = 30
    c.log_every = 5
    c.checkpoint_every = 15
  return c
