"""Data sources: each yields (inputs, {task: label}) through tf.data."""

from tfmtl.data import synthetic_vo, toy
from tfmtl.data import cityscapes, cityscapes_npy, embedded, kitti_odometry
from tfmtl.data import multi_mnist, nyuv2_npy, qm9
from tfmtl.registry import Registry

SOURCES = Registry("data source", {
    "correlated_regression": toy.correlated_regression,
    "gradnorm_toy": toy.gradnorm_toy,
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
})


def get(name, **kwargs):
  """Builds the data source `name`; unknown names list the known ones."""
  return SOURCES.get(name, **kwargs)
