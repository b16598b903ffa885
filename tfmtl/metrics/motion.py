"""Motion segmentation metric: IoU of static (0) / moving (1) pixels.

Motion labels are a two-class segmentation (255 = ignore), scored as seed 001
scores it: mIoU over the two classes, with the segmentation module's rules
(a class absent from both label and prediction is left out of the mean).
"""

from tfmtl.metrics import segmentation

HIGHER_IS_BETTER = segmentation.HIGHER_IS_BETTER
CLASS_NAMES = ("static", "moving")


def mean_iou(y_true, y_pred, ignore_label=255):
  """(mIoU, [IoU_static, IoU_moving]) of ids or 2-class scores."""
  return segmentation.mean_iou(y_true, y_pred, 2, ignore_label)


class MotionMetric(segmentation.SegmentationMetric):
  """Streaming static/moving confusion matrix (see SegmentationMetric)."""

  def __init__(self, ignore_label=255, name="motion", **kwargs):
    kwargs.pop("num_classes", None)
    kwargs.pop("class_names", None)
    super().__init__(num_classes=2, ignore_label=ignore_label,
                     class_names=CLASS_NAMES, name=name, **kwargs)

  def get_config(self):
    config = super().get_config()
    for key in ("num_classes", "class_names"):
      config.pop(key)
    return config
