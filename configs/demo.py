r"""The default job: what `make demo` runs on embedded (generated) data.

  python train.py --config=configs/demo.py --workdir=runs/demo
  python eval.py --config=configs/demo.py --workdir=runs/demo
"""

from configs import toy_two_task


def get_config(arg: str = ""):
  return toy_two_task.get_config(arg)
