r"""Vanilla auxiliary-task guidance (ATG) on the pose + flow network.

The baseline of the PRF paper: the same network, data and hyper-parameters as
configs/vo_prf.py, but the flow gradient enters the shared layers with its
configured weight 0.1 (no probability ratio, no per-sample statistics).

Run:
  python train.py --config=configs/vo_atg.py --workdir=runs/vo_atg
  python train.py --config=configs/vo_atg.py:runlocal --workdir=/tmp/vo_atg
"""

import importlib.util
import os

# Loaded by path: config files are read by path, not as a package.
_spec = importlib.util.spec_from_file_location(
    "vo_prf", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "vo_prf.py"))
vo_prf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vo_prf)


def get_config(arg: str = ""):
  return vo_prf.get_config(arg, method="atg")
