"""`write_dataset`: a whole generated dataset in one or more layouts.

Each layout root also holds `scenes.json`, the completion marker
(`tfmtl.data.marker`): "complete": false until the last sample is written,
so the readers refuse a generation that was killed. A non-empty target
folder is refused unless `overwrite` (the CLI's --overwrite).
"""

import multiprocessing
import os
import shutil
import sys
from typing import Dict, Sequence, Tuple

import cv2
import numpy as np
import tqdm

from tfmtl.data import marker
from tfmtl.data.scenes import writers
from tfmtl.data.scenes.generate import check_size
from tfmtl.errors import UserError

KITTI_SPLITS = 11  # Sequences 00..10, the ones with public poses.
LAYOUTS = ("cityscapes", "kitti", "nyuv2")


def write_dataset(out_dir: str, num: int, height: int = 256, width: int = 512,
                  seed: int = 0,
                  layouts: Sequence[str] = ("cityscapes", "kitti"),
                  splits: Sequence[Tuple[str, float]] = (
                      ("train", 0.8), ("val", 0.1), ("test", 0.1)),
                  kitti_sequences: int = KITTI_SPLITS,
                  farneback: bool = True, workers: int = 1,
                  progress: bool = False,
                  overwrite: bool = False,
                  focal_scale: float = 1.0) -> Dict[str, int]:
  """Writes `num` samples in each layout (see `writers` for the files).

  Each layout root gets a completion marker (`scenes.json`, see
  `tfmtl.data.marker`) that says "incomplete" until the last sample is
  written; the readers refuse a generated dataset that isn't complete.

  Args:
    out_dir: root; the layouts go to `out_dir/cityscapes`,
      `out_dir/kitti` and `out_dir/nyuv2`.
    num: Cityscapes samples, and KITTI frames spread over
      `kitti_sequences` sequences (at least 2 frames each).
    height, width: image size.
    seed: same seed, same bytes (every sample draws from its own stream).
    layouts: any of "cityscapes", "kitti", "nyuv2".
    splits: (name, fraction) pairs for the Cityscapes and NYUv2 samples
      (KITTI splits by sequence number, as the odometry readers do).
    kitti_sequences: number of KITTI sequences (00, 01, ...).
    farneback: also write the Farneback flow + confidence input.
    workers: processes (samples are independent; results do not depend
      on it).
    progress: show a progress bar on stderr.
    overwrite: replace the layouts' folders if they are not empty (else
      refused: old and new samples would mix).
    focal_scale: the Cityscapes layout's camera zoom (`generate_sample`);
      its camera files carry the focal length, so depth stays exact.

  Returns:
    {layout: number of frames written}.
  """
  _check_arguments(num, height, width, layouts, focal_scale)
  _prepare_out(out_dir, layouts, overwrite)
  tasks, written = [], {}
  if "kitti" in layouts:
    kitti, written["kitti"] = _kitti_tasks(
        os.path.join(out_dir, "kitti"), num, kitti_sequences, seed, height,
        width)
    tasks += kitti
  if "cityscapes" in layouts:
    tasks += _split_tasks(writers.write_cityscapes,
                          os.path.join(out_dir, "cityscapes"), num, splits,
                          seed, height, width, farneback, focal_scale)
    written["cityscapes"] = num
  if "nyuv2" in layouts:
    tasks += _split_tasks(writers.write_nyuv2, os.path.join(out_dir, "nyuv2"),
                          num, splits, seed, height, width)
    written["nyuv2"] = num
  info = dict(height=height, width=width, seed=seed)
  if focal_scale != 1.0:
    info["focal_scale"] = focal_scale
  for layout, count in written.items():
    marker.write(os.path.join(out_dir, layout), False, frames=count, **info)
  _run(tasks, workers, progress, sum(written.values()))
  for layout, count in written.items():  # last: the dataset is complete
    marker.write(os.path.join(out_dir, layout), True, frames=count, **info)
  return written


def _check_arguments(num, height, width, layouts, focal_scale):
  check_size(height, width)
  unknown = set(layouts) - set(LAYOUTS)
  if unknown or not layouts:
    raise UserError(f"scenes: unknown layouts {sorted(unknown)}; use "
                    "cityscapes, kitti and/or nyuv2")
  if num < 1:
    raise UserError(f"scenes: --num must be >= 1, got {num}")
  if not focal_scale > 0:
    raise UserError(f"scenes: focal_scale must be > 0, got {focal_scale}")


def _prepare_out(out_dir: str, layouts, overwrite: bool) -> None:
  """Refuses an output path that is a file, or non-empty layout folders
  unless `overwrite` (then they are deleted first)."""
  if os.path.exists(out_dir) and not os.path.isdir(out_dir):
    raise UserError(f"scenes: --out {out_dir!r} is a file; give a directory")
  for layout in layouts:
    root = os.path.join(out_dir, layout)
    if os.path.isdir(root) and os.listdir(root):
      if not overwrite:
        raise UserError(
            f"scenes: {root!r} is not empty (old and new samples would mix); "
            "give another --out or pass --overwrite to replace it")
      shutil.rmtree(root)


def _kitti_tasks(root, num, kitti_sequences, seed, height, width):
  """One unit of work a sequence, `num` frames spread over them (at least
  2 each); returns the units and the frames they write."""
  n_seq = max(1, min(kitti_sequences, num // 2))
  per = [max(num // n_seq + (k < num % n_seq), 2) for k in range(n_seq)]
  tasks = [(writers.write_kitti, (root, k, per[k], seed, height, width))
           for k in range(n_seq)]
  return tasks, sum(per)


def _split_tasks(write, root, num, splits, *args):
  """One unit of work a sample: (write, (root, split, index, local, *args)),
  `index` counting over all splits and `local` within one."""
  tasks, index = [], 0
  for split, count in _split_counts(num, splits):
    for local in range(count):
      tasks.append((write, (root, split, index, local) + args))
      index += 1
  return tasks


def _split_counts(num, splits):
  names = [s for s, _ in splits]
  fracs = np.array([f for _, f in splits], float)
  if np.any(fracs < 0) or fracs.sum() <= 0:
    raise UserError(f"scenes: split fractions {splits} must be >= 0 with a "
                    "positive sum")
  bounds = np.round(np.cumsum(fracs) / fracs.sum() * num).astype(int)
  return list(zip(names, np.diff(np.concatenate([[0], bounds]))))


def _run(tasks, workers, progress, total):
  """Runs the units of work, in `workers` processes when more than one."""
  with tqdm.tqdm(total=total, unit="frame", file=sys.stderr,
                 disable=not progress) as bar:
    if workers <= 1:
      for write, args in tasks:
        bar.update(write(*args))
      return
    # A fresh server process (not fork: the parent may run TensorFlow's
    # threads) that imports this module once for all workers.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    with ctx.Pool(workers, initializer=_init_worker) as pool:
      for n in pool.imap_unordered(_call, tasks):
        bar.update(n)


def _init_worker():
  cv2.setNumThreads(1)


def _call(task):
  write, args = task
  return write(*args)
