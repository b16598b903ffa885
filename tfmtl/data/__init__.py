"""Data sources: each yields (inputs, {task: label}) through tf.data."""

from tfmtl.data import aux_toy, synthetic_vo, toy
from tfmtl.data import cityscapes, cityscapes_npy, embedded, kitti_odometry
from tfmtl.registry import Registry

SOURCES = Registry("data source", {
    "correlated_regression": toy.correlated_regression,
    "gradnorm_toy": toy.gradnorm_toy,
    "aux_regression": aux_toy.aux_regression,
    "synthetic_vo": synthetic_vo.synthetic_vo,
    "cityscapes": cityscapes.CityscapesSource,
    "cityscapes_npy": cityscapes_npy.CityscapesNpySource,
    "kitti_odometry": kitti_odometry.KittiOdometrySource,
    "scenes": embedded.scenes,
    "scenes_vo": embedded.scenes_vo,
})


def get(name, **kwargs):
  """Builds the data source `name`; unknown names list the known ones."""
  return SOURCES.get(name, **kwargs)
