"""`make_train_step` (the step lives in tfmtl/engine/, one module a phase)."""

from tfmtl.engine import (INITIAL_LOSS_SCALE, LOSS_SCALE_PERIOD, Counters,  # noqa: F401
                          TrainStep, check_partition, make_train_step,
                          xla_problem)
