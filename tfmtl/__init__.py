"""tfmtl: multi-task learning and task balancing for TensorFlow 2 / Keras 3.

    import tfmtl
    trainer = tfmtl.Trainer(model, {"a": "mse", "b": "bce"}, "pcgrad")
    print(tfmtl.methods.describe("pcgrad"))

The public names (`dir(tfmtl)`) are imported on first use, so `import tfmtl`
stays light:

  Trainer            Keras `fit` / `evaluate` / `save` / `export` with any method
  make_train_step    the train step as a function, for loops of your own
  Task, TaskSplit    a task (name, loss, weight, role); a model's task split
  methods            every balancing method: names(), get(), describe()
  weighting, aggregation   the loss-level and gradient-level families
  losses, kinds, metrics   per-example losses; what a task is; its metrics
  data, models       data sources and models by name
  export             SavedModel, LiteRT, ONNX export; the serving signature
  evaluation         per-task metrics over a split (what eval.py reports)
  UserError, NonFiniteError   the errors a user can fix
"""

import importlib

__version__ = "0.1.0"

_NAMES = {
    "Trainer": ("tfmtl.trainer", "Trainer"),
    "TaskSplit": ("tfmtl.models.split", "TaskSplit"),
    "Task": ("tfmtl.tasks", "Task"),
    "make_train_step": ("tfmtl.engine", "make_train_step"),
    "UserError": ("tfmtl.errors", "UserError"),
    "NonFiniteError": ("tfmtl.errors", "NonFiniteError"),
}
_MODULES = ("methods", "weighting", "aggregation", "losses", "kinds",
            "metrics", "data", "models", "export", "evaluation", "tasks",
            "errors", "engine", "contract")

__all__ = sorted(_NAMES) + list(_MODULES)


def __getattr__(name):
  if name in _NAMES:
    module, attribute = _NAMES[name]
    return getattr(importlib.import_module(module), attribute)
  if name in _MODULES:
    return importlib.import_module(f"tfmtl.{name}")
  raise AttributeError(f"module 'tfmtl' has no attribute {name!r}")


def __dir__():
  return sorted(set(globals()) | set(__all__))
