"""`python -m tfmtl.data.scenes`: writes a generated dataset from the shell."""

import argparse
import os
import sys
import time

from tfmtl.data.scenes.dataset import KITTI_SPLITS, write_dataset
from tfmtl.errors import UserError


def main(argv=None):
  p = argparse.ArgumentParser(
      prog="python -m tfmtl.data.scenes",
      description="Writes procedural driving scenes in the Cityscapes, "
                  "KITTI odometry and NYUv2 .npy layouts.")
  p.add_argument("--out", required=True, help="output directory")
  p.add_argument("--num", type=int, required=True,
                 help="samples per layout (KITTI: frames over all sequences)")
  p.add_argument("--height", type=int, default=256)
  p.add_argument("--width", type=int, default=512)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--layouts", default="cityscapes,kitti",
                 help="comma-separated: cityscapes,kitti,nyuv2")
  p.add_argument("--kitti_sequences", type=int, default=KITTI_SPLITS)
  p.add_argument("--no_farneback", action="store_true",
                 help="skip the Farneback flow + confidence input")
  p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
  p.add_argument("--overwrite", action="store_true",
                 help="replace existing layout folders under --out")
  p.add_argument("--focal_scale", type=float, default=1.0,
                 help="cityscapes camera zoom: focal length over "
                 "Cityscapes' (> 1: narrower view)")
  a = p.parse_args(argv)
  try:
    t0 = time.time()
    written = write_dataset(
        a.out, a.num, a.height, a.width, a.seed,
        tuple(s for s in a.layouts.split(",") if s),
        kitti_sequences=a.kitti_sequences, farneback=not a.no_farneback,
        workers=a.workers, progress=True, overwrite=a.overwrite,
        focal_scale=a.focal_scale)
  except OSError as e:
    print(f"error: scenes: cannot write {a.out!r}: {e.strerror} "
          f"({e.filename})", file=sys.stderr)
    return 2
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"wrote {written} to {a.out} in {time.time() - t0:.1f}s")
  return 0
