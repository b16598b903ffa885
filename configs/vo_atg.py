r"""Vanilla auxiliary-task guidance (ATG) on the pose + flow network.

The baseline of the PRF paper: the same network, data and hyper-parameters as
configs/vo_prf.py (same arguments), but the flow gradient enters the shared
layers with its configured weight 0.1 (no probability ratio, no per-sample
statistics).

Run:
  python train.py --config=configs/vo_atg.py:scenes --workdir=runs/vo_atg
  python train.py --config=configs/vo_atg.py:runlocal --workdir=/tmp/vo_atg
"""

from configs import vo_prf


def get_config(arg: str = ""):
  return vo_prf.get_config(arg, method="atg")
