"""Preprocessed NYUv2 of the MTAN code (Liu, Johns, Davison, CVPR 2019).

Layout under `root` (MTAN's and LibMTL's NYUv2 download, 795 train / 654
val images at 288×384):

  {train,val}/image/{i}.npy    float32 [288, 384, 3] RGB in [0, 1]
  {train,val}/label/{i}.npy    float [288, 384], 13 class ids, −1 for void
  {train,val}/depth/{i}.npy    float32 [288, 384, 1] depth in metres,
                               0 = invalid
  {train,val}/normal/{i}.npy   float32 [288, 384, 3] unit surface normals,
                               0 = invalid

Tasks "semantic" (int32, void → 255), "depth" (metres, as stored) and
"normal". Reading, checks and augmentation are those of the Cityscapes
.npy layout (`cityscapes_npy`): MTAN's random zoom-crop (depth / s, since
NYUv2 stores depth, not inverse depth; normals unchanged) and flip (the
normal's x component changes sign, as MTAN's `RandomScaleCrop` / flip).
Zoomed normals are sampled nearest (MTAN: bilinear, which shortens them
and blends valid with invalid pixels). Split "test" reads `test_dir`
(default "val", as MTAN and LibMTL evaluate).
"""

import tensorflow as tf

from tfmtl.data.cityscapes_npy import CityscapesNpySource
from tfmtl.errors import UserError

TASK_OF = {"label": "semantic", "depth": "depth", "normal": "normal"}


class NYUv2NpySource(CityscapesNpySource):
  """MTAN's preprocessed NYUv2: semantic (13 classes) + depth + normal.

  Args:
    root: folder with train/ and val/.
    tasks: subset of ("semantic", "depth", "normal").
    augment, max_scale, cache, test_dir: as `CityscapesNpySource`.
  """

  what = "NYUv2 npy"
  task_of = TASK_OF
  class_counts = (13,)
  inverse_depth = False

  def __init__(self, root: str, tasks=("semantic", "depth", "normal"),
               augment: bool = True, max_scale: float = 1.5,
               cache: bool = False, test_dir: str = "val"):
    if not tf.io.gfile.isdir(str(root)):
      raise UserError(f"NYUv2 npy root {str(root)!r} does not exist; give "
                      "the folder with train/ and val/ of MTAN's "
                      "preprocessed NYUv2")
    super().__init__(root, num_classes=13, tasks=tasks, augment=augment,
                     max_scale=max_scale, cache=cache, test_dir=test_dir)

  def _check_shapes(self, first):
    super()._check_shapes(first)
    shape = self._format["image"][2]
    if "normal" in self._format and self._format["normal"][2] != (
        shape[:2] + (3,)):
      raise UserError(f"normal files are {self._format['normal'][2]}, "
                      f"expected {shape[:2] + (3,)} to match the images")

  def decode(self, row):
    """One row -> ({"image"}, {"semantic", "depth", "normal"})."""
    inputs, labels = super().decode(row)
    if "normal" in self.tasks:
      n = tf.cast(self._read("normal", row["normal"]), tf.float32)
      labels["normal"] = tf.ensure_shape(
          n, inputs["image"].shape[:2] + [3])
    return inputs, labels
