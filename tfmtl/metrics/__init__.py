"""Metrics: streaming Keras metrics for dense tasks, numpy odometry, Delta_m.

Dense-task metrics accumulate sums in SUM-aggregated ON_READ variables, so
they are right under tf.distribute (create in `strategy.scope()`, update in
`strategy.run`). `result()` returns a dict of named values (fractions, not
percent). Odometry works on whole trajectories in numpy.
"""

from tfmtl.metrics.delta_m import HIGHER_IS_BETTER, delta_m
from tfmtl.metrics.depth import DepthMetric, depth_errors
from tfmtl.metrics.motion import MotionMetric
from tfmtl.metrics.normals import NormalMetric, normal_errors
from tfmtl.metrics.odometry import (ate, integrate, kitti_errors,
                                    relative_poses, rpe)
from tfmtl.metrics.segmentation import (SegmentationMetric, mean_iou,
                                        pixel_accuracy)

__all__ = [
    "HIGHER_IS_BETTER", "delta_m", "DepthMetric", "depth_errors",
    "MotionMetric", "NormalMetric", "normal_errors", "ate", "integrate",
    "kitti_errors", "relative_poses",
    "rpe", "SegmentationMetric", "mean_iou", "pixel_accuracy",
]
