r"""QM9 11-task benchmark (Nash-MTL, FAMO, FairGrad, LibMTL): MPNN + heads.

Gilmer et al.'s MPNN (edge network, GRU, Set2Set; tfmtl/models/mpnn.py) with
a linear head per target, MSE on targets normalised by the train split's
mean and std; QM9 from the qm9pack package (`pip install tfmtl[qm9]`),
110,831 / 10,000 / 10,000 molecules. The papers' budget: Adam 1e-3, batch
120, 300 epochs on a GPU (LibMTL: ReduceLROnPlateau). The evaluation
reports each target's MAE in its units as `mae_units`.

  python train.py --config=configs/qm9.py --workdir=runs/qm9
  python train.py --config=configs/qm9.py:runlocal --workdir=/tmp/qm9
  python train.py --config=configs/qm9.py:runlocal --config.method=pcgrad \
      --workdir=/tmp/qm9_pcgrad

  python train.py --config=configs/qm9.py:reduced,only=mu --workdir=/tmp/mu

Arguments (comma-separated): `runlocal` a CPU-sized run (2,000 training
molecules, d = 32, 300 steps); `reduced` the budget of RESULTS.md's QM9
table (as `runlocal` with the edge network's hidden width 32 instead of
128; the 2,000 test molecules evaluated in batches of 250); `only=TARGET`
a single-target baseline; `moe=NAME` is not offered (QM9's inputs are
graphs, not vectors).
"""

import ml_collections

from configs import common
from tfmtl.data.qm9 import TASKS


def get_config(arg: str = ""):
  args = common.parse_args(arg)
  c = common.base_config()
  c.data = ml_collections.ConfigDict(dict(name="qm9", kwargs=dict(seed=0)))
  c.model = ml_collections.ConfigDict(dict(
      name="mpnn", kwargs=dict(dim=64, edge_hidden=128, rounds=3,
                               set2set_steps=3, seed=0)))
  c.tasks = ml_collections.ConfigDict(
      {t: dict(loss="mse", weight=1.0, role="main") for t in TASKS})
  c.optimizer = ml_collections.ConfigDict(dict(name="adam",
                                               learning_rate=1e-3))
  c.batch_size = 120
  c.steps = 300 * 110831 // 120
  c.log_every = 500
  c.checkpoint_every = 10000
  c.eval_split = "test"
  c.eval_batch_size = 250
  if "only" in args:
    c.tasks = {args["only"]: c.tasks[args["only"]].to_dict()}
  if "runlocal" in args or "reduced" in args:
    c.data.kwargs.limit = 2000
    c.model.kwargs.dim = 32
    c.batch_size = 32
    c.steps = 300
    c.log_every = 50
    c.checkpoint_every = 300
    c.eval_batch_size = 100
  if "reduced" in args:
    c.model.kwargs.edge_hidden = 32
    c.eval_batch_size = 250
  return c
