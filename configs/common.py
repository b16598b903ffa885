"""Settings every config shares; a config file overrides what it needs.

    c = common.base_config()
    c.data = ...; c.model = ...; c.tasks = ...

Keys (all overridable with --config.KEY=VALUE; checked before anything is
built by tfmtl/config_check.py). New keys can come from the command line
only under model.kwargs, data.kwargs, method_kwargs.METHOD, optimizer,
tasks.TASK (a known task: `missing`, loss arguments) and eval_metrics, and
as the optional eval_metrics / eval_depth_range; a new task is added in the
config file.
  seed                 initialisation and data order
  data.name/kwargs     tfmtl.data source and its arguments
  model.name/kwargs    tfmtl.models model (task names come from `tasks`)
  tasks                {name: {loss, weight, role, ...loss kwargs}}
  method               any name in tfmtl.methods.names()
  method_kwargs        {method name: {kwargs}}: settings for several methods,
                       the chosen one is used
  optimizer            {name: adam|sgd|adamw, learning_rate, ...}: the other
                       keys are the Keras optimizer's arguments (not its
                       clipnorm / clipvalue: see clip_*)
  batch_size           global batch, split over replicas; at most the
                       train split
  steps                train steps (0: train nothing, evaluate the initial
                       or restored model, write nothing)
  epochs               train epochs instead of steps (0 = use steps); steps
                       become epochs × ⌊train examples / batch_size⌋
  clip_global_norm     0 = off
  clip_by_value        {regex on variable path: c} (after the method)
  per_sample_mode      independent | coupled (methods needing variances)
  strategy             default | mirrored | multi_worker | tpu
  num_devices          mirrored: 0 = all GPUs, or N logical CPUs
  tpu_address          tpu: resolver address
  jit_compile          compile the step with XLA: True, False, or "auto"
                       (time both on the first steps, keep the faster)
  steps_per_loop       steps per tf.function call (>= 1)
  deterministic        op determinism + seeded data order
  mixed_precision      "" | mixed_float16 | mixed_bfloat16
  max_nonfinite_skips  stop after this many non-finite steps in a row
  show_method_logs     print task weights and method statistics in the
                       progress line too (TensorBoard always has them)
  log_every            steps between progress lines and summaries
  checkpoint_every     steps between checkpoints
  keep_checkpoints     checkpoints kept (the oldest is deleted)
  eval_split           the split eval.py scores (train | val | test)
  eval_batch_size      examples per eval batch
  eval_metrics         {task: kind}: score a task as another kind than its
                       loss and output say (tfmtl/kinds.py: classification,
                       segmentation, motion, binary, regression, depth,
                       normal, flow, loss); optional
  eval_depth_range     (min, max) metres scored by depth tasks, 0 <= min <
                       max; optional
"""

import ml_collections


def parse_args(arg: str) -> dict:
  """"a,b=1,c" -> {"a": True, "b": "1", "c": True}."""
  out = {}
  for item in filter(None, (arg or "").split(",")):
    key, _, value = item.partition("=")
    out[key] = value or True
  return out


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.data = ml_collections.ConfigDict(dict(name="", kwargs={}))
  c.model = ml_collections.ConfigDict(dict(name="", kwargs={}))
  c.tasks = ml_collections.ConfigDict()
  c.method = "fixed"
  c.method_kwargs = ml_collections.ConfigDict()
  c.optimizer = ml_collections.ConfigDict(dict(name="adam",
                                               learning_rate=1e-3))
  c.batch_size = 16
  c.steps = 1000
  c.epochs = 0
  c.clip_global_norm = 0.0
  c.clip_by_value = ml_collections.ConfigDict()
  c.per_sample_mode = "independent"
  c.strategy = "default"
  c.num_devices = 0
  c.tpu_address = ""
  # Any of True / False / "auto" (a plain str default would refuse a bool).
  c.jit_compile = ml_collections.FieldReference("auto", field_type=object)
  c.steps_per_loop = 1
  c.deterministic = False
  c.mixed_precision = ""
  c.max_nonfinite_skips = 10
  c.show_method_logs = False
  c.log_every = 100
  c.checkpoint_every = 500
  c.keep_checkpoints = 3
  c.eval_split = "test"
  c.eval_batch_size = 64
  return c
