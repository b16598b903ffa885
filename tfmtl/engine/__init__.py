"""The train step, split along its phases (see step.py)."""

from tfmtl.engine.apply import INITIAL_LOSS_SCALE, LOSS_SCALE_PERIOD, Counters
from tfmtl.engine.step import (TrainStep, check_partition, make_train_step,
                               xla_problem)

__all__ = ["TrainStep", "make_train_step", "check_partition", "xla_problem",
           "Counters", "INITIAL_LOSS_SCALE", "LOSS_SCALE_PERIOD"]
