"""Procedural driving scenes with exact ground truth: the embedded default data.

A seeded numpy generator of street scenes seen by a moving pinhole camera,
rendered by ray casting so every ground-truth map (depth, disparity,
normals, semantics, motion, optical flow, relative pose) is exact, and
writers of those scenes in the Cityscapes, KITTI odometry and NYUv2 .npy
layouts. Where things are:

  street.py    the scene: primitives, classes, textures (`build_scene`)
  geometry.py  camera, trajectory, pose conventions and the ground truth's
               maths
  render.py    ray casting, normals, shading, exact flow
  generate.py  `generate_sample`, `generate_sequence` (arrays in memory)
  writers.py   one sample / drive in each on-disk layout (the layouts' files)
  dataset.py   `write_dataset`: a whole dataset, its splits and workers
  cli.py       `python -m tfmtl.data.scenes --out DIR --num N`
"""

from tfmtl.data.scenes.cli import main
from tfmtl.data.scenes.dataset import KITTI_SPLITS, write_dataset
from tfmtl.data.scenes.generate import generate_sample, generate_sequence
from tfmtl.data.scenes.geometry import (BASELINE, FOCAL_PER_WIDTH,
                                        euler_from_matrix)
from tfmtl.data.scenes.street import LABEL_IDS
from tfmtl.data.scenes.writers import (CITYSCAPES_FRAME, NYU_CLASSES,
                                       SAMPLES_PER_CITY, camera_json,
                                       disparity_to_png, kitti_calib)

# Private names of the single module this package replaced, still reached
# for by code outside it.
from tfmtl.data.scenes.geometry import rot_x as _rot_x
from tfmtl.data.scenes.geometry import rot_y as _rot_y
from tfmtl.data.scenes.geometry import rot_z as _rot_z
from tfmtl.data.scenes.writers import sample_seed as _sample_seed
