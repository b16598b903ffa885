"""Data sources: each yields (inputs, {task: label}) through tf.data."""

from tfmtl.data import aux_toy, synthetic_vo, toy
from tfmtl.data import cityscapes, cityscapes_npy, embedded, kitti_odometry
from tfmtl.data import multi_mnist, multi_source, nyuv2_npy, qm9
from tfmtl.data.source import DatasetSource
from tfmtl.errors import UserCodeError, UserError
from tfmtl.registry import Registry

SOURCES = Registry("data source", {
    "correlated_regression": toy.correlated_regression,
    "gradnorm_toy": toy.gradnorm_toy,
    "aux_regression": aux_toy.aux_regression,
    "synthetic_vo": synthetic_vo.synthetic_vo,
    "cityscapes": cityscapes.CityscapesSource,
    "cityscapes_npy": cityscapes_npy.CityscapesNpySource,
    "nyuv2_npy": nyuv2_npy.NYUv2NpySource,
    "kitti_odometry": kitti_odometry.KittiOdometrySource,
    "scenes": embedded.scenes,
    "scenes_vo": embedded.scenes_vo,
    "scenes_nyuv2": embedded.scenes_nyuv2,
    "multi_mnist": multi_mnist.multi_mnist,
    "multi_fashion": multi_mnist.multi_fashion,
    "qm9": qm9.qm9,
    "multi_source": multi_source.multi_source,
})
"""The data sources by name (`config.data.name`); `get` builds one."""


def get(name, **kwargs):
  """Builds the data source `name`; unknown names list the known ones.

  A user data function (`module:function`) may return a source object (with
  `dataset(split, batch_size, ...)` and `task_names`) or {split: tf.data
  dataset of unbatched (inputs, {task: label})}.
  """
  try:
    made = SOURCES.get(name, **kwargs)
  except UserError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    if ":" in name:  # the user's traceback matters: kept, and named
      raise UserCodeError(f"data function {name!r}", e) from e
    if not isinstance(e, (TypeError, ValueError)):
      raise
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    raise UserError(f"data source {name!r} can't be built with ({args}): "
                    f"{type(e).__name__}: {str(e).splitlines()[0]}; check "
                    "its arguments (config.data.kwargs)") from None
  if isinstance(made, dict):
    return DatasetSource(made)
  if not hasattr(made, "dataset"):
    raise UserError(
        f"data source {name!r} returned {type(made).__name__}: return a "
        "source object or {split: tf.data.Dataset}")
  return made
