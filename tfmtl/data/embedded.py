"""The embedded default data: procedural scenes, generated once and cached.

`scenes` and `scenes_vo` generate a dataset with `tfmtl.data.scenes` on first
use (in the exact Cityscapes / KITTI odometry layouts) and read it back with
the real readers, so everything runs on a fresh machine with no download and
exercises the same code a real dataset does.

The cache lives under `$TFMTL_DATA_DIR` (default `~/.cache/tfmtl`), one
folder per set of generation parameters. Generation writes to a temporary
sibling folder (`.scenes-<host>-<pid>-*`) that is renamed into place when
complete, so an interrupted run never leaves a half-written dataset that a
later run would trust; the next generation deletes the temporary folders of
processes on this host that are gone.
"""

import os
import shutil
import socket
import sys
import tempfile
from typing import Optional, Sequence

from tfmtl.data import cityscapes, kitti_odometry, nyuv2_npy
from tfmtl.data import scenes as scenes_lib
from tfmtl.errors import UserError


def data_dir() -> str:
  return os.path.expanduser(os.environ.get("TFMTL_DATA_DIR",
                                           "~/.cache/tfmtl"))


def ensure(layout: str, num: int, height: int, width: int, seed: int,
           root: Optional[str] = None, workers: int = 0,
           focal_scale: float = 1.0) -> str:
  """The folder of a generated dataset, generating it if needed."""
  if root is None:
    zoom = f"-focal{focal_scale:g}" if focal_scale != 1.0 else ""
    root = os.path.join(
        data_dir(), f"scenes-{layout}-{num}-{height}x{width}-seed{seed}{zoom}")
  root = os.path.expanduser(root)
  layout_dir = os.path.join(root, layout)
  if os.path.isdir(layout_dir):
    return layout_dir
  parent = os.path.dirname(os.path.abspath(root))
  try:
    os.makedirs(parent, exist_ok=True)
    clean_leftovers(parent)
    tmp = tempfile.mkdtemp(prefix=_prefix(socket.gethostname(), os.getpid()),
                           dir=parent)
  except OSError as e:
    raise UserError(f"cannot write the generated dataset under {parent!r} "
                    f"({e.strerror}); set TFMTL_DATA_DIR (or the source's "
                    "root=) to a writable folder") from None
  try:
    print(f"generating {num} procedural {layout} samples at {height}x{width} "
          f"into {root} (once; cached)", flush=True)
    scenes_lib.write_dataset(tmp, num, height, width, seed=seed,
                             layouts=(layout,),
                             workers=workers or min(2, os.cpu_count() or 1),
                             progress=True, focal_scale=focal_scale)
    if os.path.isdir(root):  # another process finished first
      shutil.rmtree(tmp, ignore_errors=True)
    else:
      os.replace(tmp, root)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return layout_dir


def _prefix(host: str, pid: int) -> str:
  return f".scenes-{host.replace('-', '_')}-{pid}-"


def clean_leftovers(parent: str) -> list:
  """Deletes `.scenes-*` folders in `parent` left by killed generations
  on this host (their process is gone); returns the paths deleted."""
  host = socket.gethostname().replace("-", "_")
  gone = []
  for name in os.listdir(parent) if os.path.isdir(parent) else []:
    parts = name.split("-")
    if len(parts) < 4 or parts[0] != ".scenes" or parts[1] != host:
      continue
    try:
      os.kill(int(parts[2]), 0)
      continue  # still generating
    except ProcessLookupError:
      pass
    except (ValueError, PermissionError):
      continue
    path = os.path.join(parent, name)
    shutil.rmtree(path, ignore_errors=True)
    gone.append(path)
  if gone:
    print(f"removed {len(gone)} unfinished generation(s) of killed runs in "
          f"{parent}", file=sys.stderr, flush=True)
  return gone


def scenes(num: int = 240, height: int = 128, width: int = 256,
           seed: int = 0, root: Optional[str] = None, scheme: str = "5",
           tasks: Sequence[str] = ("semantic", "depth", "motion"),
           with_flow: bool = True, augment: bool = True, cache: bool = True,
           workers: int = 0, label_fraction=None,
           label_seed: int = 0,
           drop_unlabelled: bool = False,
           focal_scale: float = 1.0) -> cityscapes.CityscapesSource:
  """Procedural street scenes read as Cityscapes (seed 001's three tasks).

  Args:
    num: samples (80/10/10 train/val/test).
    height, width: generated (and read) image size.
    seed: generation seed.
    root: dataset folder (default: a cache folder named by the params).
    scheme, tasks, with_flow, augment, cache: see CityscapesSource.
    workers: generation processes (0: up to 2).
    label_fraction: {task: fraction} of train images that keep that task's
      label (e.g. {"depth": 0.25}); the others carry sample weight 0
      (`RecordSource.hidden_labels`: deterministic per image).
    label_seed: which images keep their labels.
    drop_unlabelled: train only on the images that keep every label of
      `label_fraction` (the baseline that discards partly labelled data).
    focal_scale: camera zoom against Cityscapes' focal length (> 1: a
      narrower view; `scenes.generate_sample`).
  """
  path = ensure("cityscapes", num, height, width, seed, root, workers,
                focal_scale)
  source = cityscapes.CityscapesSource(
      path, scheme=scheme, tasks=tuple(tasks), with_flow=with_flow,
      augment=augment, cache=cache)
  source.label_fraction = dict(label_fraction) if label_fraction else None
  source.label_seed = int(label_seed)
  source.drop_unlabelled = bool(drop_unlabelled)
  if source.label_fraction:
    source.hidden_labels("train")  # checks the fractions now
  return source


def scenes_vo(num: int = 440, height: int = 128, width: int = 320,
              seed: int = 0, root: Optional[str] = None,
              with_flow: bool = True, augment: bool = True,
              cache: bool = True, workers: int = 0,
              flow_range=None) -> kitti_odometry.KittiOdometrySource:
  """Procedural drives read as KITTI odometry (11 sequences, reference split).

  Args:
    num: frames, spread over sequences 00..10.
    height, width: frame size (the PRF reference: 128×320).
    flow_range: see `KittiOdometrySource` (None: flow labels in pixels).
  """
  path = ensure("kitti", num, height, width, seed, root, workers)
  return kitti_odometry.KittiOdometrySource(
      path, height=height, width=width, with_flow=with_flow,
      augment=augment, cache=cache, flow_range=flow_range)


def scenes_nyuv2(num: int = 240, height: int = 96, width: int = 128,
                 seed: int = 0, root: Optional[str] = None,
                 tasks: Sequence[str] = ("semantic", "depth", "normal"),
                 augment: bool = True, cache: bool = True,
                 workers: int = 0) -> nyuv2_npy.NYUv2NpySource:
  """Procedural scenes read as MTAN's NYUv2 .npy (semantic, depth, normal).

  The 3-task NYUv2 set-up on embedded data: 10 of the 13 class ids used,
  depth in metres, exact camera-frame surface normals (see
  `tfmtl.data.scenes`). Splits 80/10/10 into train/, val/ and test/.

  Args:
    num: samples.
    height, width: generated (and read) image size.
    seed: generation seed.
    root: dataset folder (default: a cache folder named by the params).
    tasks, augment, cache: see `NYUv2NpySource`.
    workers: generation processes (0: up to 2).
  """
  path = ensure("nyuv2", num, height, width, seed, root, workers)
  return nyuv2_npy.NYUv2NpySource(path, tasks=tuple(tasks), augment=augment,
                                  cache=cache, test_dir="test")
