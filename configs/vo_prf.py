r"""PRF on the pose + flow network (the reference of Al Hasib et al., 2023).

Ego-motion (trans, rot; main tasks, rot the PRF reference) with optical flow
as the auxiliary task whose shared-layer gradient is scaled elementwise by
the probability ratio β (tfmtl/aggregation/prf.py). Reference
hyper-parameters: weights trans 1 / rot 10 / flow 0.1, Adam 5e-4, batch 16,
128×320 frame pairs, the 9 shared conv kernels' gradients clipped to ±2e-6.
Data: the procedural `synthetic_vo` source until the KITTI loader lands.

Run:
  python train.py --config=configs/vo_prf.py --workdir=runs/vo_prf
  python train.py --config=configs/vo_prf.py:runlocal --workdir=/tmp/vo_prf

`arg` is a comma-separated list: `runlocal` shrinks the run to CPU size
(32×80 frames, width 0.25, batch 8, 30 steps); `coupled` uses the seed's
coupled per-sample statistics instead of the independent ones.
TensorBoard shows `beta/<layer>` (mean β per shared layer) next to the
task losses.
"""

import ml_collections

# The 9 shared conv kernels of pose_flow (paths like
# "pose_flow_net/shared_conv_3/kernel"); biases and BatchNorm are unclipped.
SHARED_KERNELS = r"shared_conv_\d+/kernel$"


def get_config(arg: str = "", method: str = "prf"):
  args = set(filter(None, (arg or "").split(",")))
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.data = ml_collections.ConfigDict(dict(
      name="synthetic_vo",
      kwargs=dict(n=2048, height=128, width=320, seed=0)))
  c.model = ml_collections.ConfigDict(dict(
      name="pose_flow", kwargs=dict(width=1.0)))
  c.tasks = ml_collections.ConfigDict(dict(
      trans=dict(loss="l1", weight=1.0, role="main"),
      rot=dict(loss="l1", weight=10.0, role="main"),
      flow=dict(loss="flow_log_rmse", weight=0.1, role="aux")))
  c.method = method
  c.method_kwargs = ml_collections.ConfigDict(
      dict(main_task="rot") if method == "prf" else {})
  c.optimizer = ml_collections.ConfigDict(dict(name="adam",
                                               learning_rate=5e-4))
  c.batch_size = 16  # global, split over replicas
  c.steps = 35 * 2048 * 8 // 10 // 16  # 35 epochs of the train split
  c.clip_global_norm = 0.0  # 0 disables
  c.clip_by_value = ml_collections.ConfigDict({SHARED_KERNELS: 2e-6})
  c.per_sample_mode = "coupled" if "coupled" in args else "independent"
  c.strategy = "default"
  c.num_devices = 0  # mirrored: 0 = all local GPUs, or N logical CPUs
  c.jit_compile = False
  c.steps_per_loop = 1
  c.deterministic = False
  c.log_every = 50
  c.checkpoint_every = 1000
  c.keep_checkpoints = 3
  c.eval_split = "val"
  c.eval_batch_size = 16
  if "runlocal" in args:
    c.data.kwargs.update(n=128, height=32, width=80)
    c.model.kwargs.width = 0.25
    c.batch_size = 8
    c.eval_batch_size = 8
    c.steps = 30
    c.log_every = 5
    c.checkpoint_every = 15
  return c
