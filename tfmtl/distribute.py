"""tf.distribute strategies by name: default, mirrored, multi_worker, tpu.

Which worker is the chief decides who writes summaries, checkpoints and
exports: the "chief" task if the cluster has one, else worker 0 (the
MultiWorkerMirroredStrategy convention); a single process is always chief.
"""

import os

import tensorflow as tf

from tfmtl.errors import UserError

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def make_strategy(name: str = "default", num_devices: int = 0,
                  tpu_address: str = "") -> tf.distribute.Strategy:
  """Builds a strategy; call before TensorFlow touches any device.

  Args:
    name: one of STRATEGIES.
    num_devices: for "mirrored": 0 uses every local GPU (or the CPU when
      there is none); N > 0 on a machine without GPUs splits the CPU into N
      logical devices (for tests and for checking distributed runs).
    tpu_address: for "tpu": the resolver address ("" = local / env).
  """
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
      devices = [f"/gpu:{i}" for i in range(num_devices or len(gpus))]
      return tf.distribute.MirroredStrategy(devices)
    n = max(num_devices, 1)
    cpus = tf.config.list_physical_devices("CPU")
    try:
      tf.config.set_logical_device_configuration(
          cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError:
      have = len(tf.config.list_logical_devices("CPU"))
      if have < n:
        raise UserError(
            f"strategy mirrored with {n} CPU devices: TensorFlow already "
            f"started with {have}; choose the strategy before any TF op")
    return cpu_mirrored(n)
  if name == "multi_worker":
    # TF_CONFIG names the cluster and this process's task; without it the
    # strategy runs as a single worker.
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "tpu":
    try:
      resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
          tpu=tpu_address)
      tf.config.experimental_connect_to_cluster(resolver)
      tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
      first = (str(e).splitlines() or [""])[0][:200]
      raise UserError(f"strategy tpu: cannot reach a TPU at "
                      f"{tpu_address or '(local/env)'!r}: {first}; set "
                      "--tpu_address to the TPU's name or grpc:// address"
                      ) from None
    return tf.distribute.TPUStrategy(resolver)
  raise UserError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")


def cpu_mirrored(n: int = 2) -> tf.distribute.MirroredStrategy:
  """MirroredStrategy over n logical CPU devices (which must exist).

  Reduces through one device instead of collective ops: collective instance
  keys restart with every strategy object, and a second strategy in the same
  process (or a trace that failed half-way on one replica) then aborts
  all-reduces with "Shape mismatch in the collective instance" (seen with TF
  2.21 on CPU). Copy-and-add reduction has no such keys.
  """
  return tf.distribute.MirroredStrategy(
      [f"/cpu:{i}" for i in range(n)],
      cross_device_ops=tf.distribute.ReductionToOneDevice())


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """True on the worker that writes summaries, checkpoints and exports."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.cluster_spec().as_dict():
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  return task_type in (None, "chief") or (
      task_type == "worker" and task_id == 0 and
      "chief" not in resolver.cluster_spec().as_dict())


def worker_directory(workdir: str, strategy: tf.distribute.Strategy) -> str:
  """A non-chief worker's own temporary directory under `workdir`."""
  resolver = strategy.cluster_resolver
  return os.path.join(workdir, f".tmp_{resolver.task_type}_{resolver.task_id}")
