"""Pictures of predictions: input | ground truth | prediction per dense task.

Dense tasks (semantic, depth, motion, flow) get one PNG grid each, a row per
example; inputs without an image (the toy regressions) get none.
"""

import os
from typing import List

import numpy as np

from tfmtl import visualize

DENSE = ("semantic", "depth", "motion", "flow")


def input_image(inputs):
  """The RGB frame to show beside the labels, or None."""
  if isinstance(inputs, dict):
    if "image" in inputs:
      return np.asarray(inputs["image"])
    if "frames" in inputs:
      return np.asarray(inputs["frames"])[..., :3]
  return None


def grids(inputs, labels, outputs, num: int):
  """{task: uint8 grid image} for the dense tasks of one batch."""
  image = input_image(inputs)
  if image is None:
    return {}
  out = {}
  for task in DENSE:
    if task not in outputs or task not in labels:
      continue
    pred = np.asarray(outputs[task])
    true = np.asarray(labels[task])
    rows = [visualize.task_row(task, image[i], true[i], pred[i],
                               num_classes=pred.shape[-1])
            for i in range(min(num, len(image)))]
    out[task] = visualize.grid(rows)
  return out


def draw(directory: str, split: str, inputs, labels, outputs,
         num: int = 4) -> List[str]:
  """Writes `<directory>/<split>_<task>.png` grids; returns the paths."""
  paths = []
  for task, img in grids(inputs, labels, outputs, num).items():
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{split}_{task}.png")
    visualize.save_png(path, img)
    paths.append(path)
  return paths


def trajectories(directory: str, split: str, tracks, num: int = 4
                 ) -> List[str]:
  """x–z plots of true vs predicted paths, one PNG per sequence."""
  paths = []
  os.makedirs(directory, exist_ok=True)
  for seq, (gt, pred) in list(tracks.items())[:num]:
    path = os.path.join(directory, f"{split}_trajectory_{seq}.png")
    visualize.trajectory_plot(gt, pred, path, title=f"sequence {seq}")
    paths.append(path)
  return paths
