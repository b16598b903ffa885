"""tfmtl: multi-task learning and task balancing for TensorFlow 2 / Keras 3.

    import tfmtl
    trainer = tfmtl.Trainer(model, {"a": "mse", "b": "mse"}, "pcgrad")

`Trainer`, `TaskSplit` and `make_train_step` are imported on first use, so
`import tfmtl` stays light.
"""

__version__ = "0.1.0"

_LAZY = {
    "Trainer": ("tfmtl.trainer", "Trainer"),
    "TaskSplit": ("tfmtl.models.split", "TaskSplit"),
    "make_train_step": ("tfmtl.engine", "make_train_step"),
}


def __getattr__(name):
  if name in _LAZY:
    import importlib  # pylint: disable=g-import-not-at-top
    module, attribute = _LAZY[name]
    return getattr(importlib.import_module(module), attribute)
  raise AttributeError(f"module 'tfmtl' has no attribute {name!r}")
