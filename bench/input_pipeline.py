"""Examples/s of each file reader at 128×256 and 256×512 (+ the generator).

  .venv/bin/python bench/input_pipeline.py [--num 48] [--batches 20]

Writes a procedural scenes dataset (`tfmtl.data.scenes`) at 256×512 in both
layouts into a temporary folder (timing the generator), writes random MTAN
.npy files at each size, then iterates each reader's training pipeline
(shuffle, repeat, augmentation on, batch 8) and reports examples/s after one
warm-up pass. Cityscapes and KITTI read the 256×512 files and resize for the
128×256 rows (the real data is 1024×2048 / 376×1241, so decode costs here are
lower than on the real files).
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tfmtl.data import scenes  # noqa: E402
from tfmtl.data.cityscapes import CityscapesSource  # noqa: E402
from tfmtl.data.cityscapes_npy import CityscapesNpySource  # noqa: E402
from tfmtl.data.kitti_odometry import KittiOdometrySource  # noqa: E402

BATCH = 8


def rate(ds, batches):
  it = iter(ds)
  for _ in range(3):  # warm-up: tracing, autotune, first decodes
    next(it)
  t = time.perf_counter()
  for _ in range(batches):
    next(it)
  return batches * BATCH / (time.perf_counter() - t)


def write_npy(root, n, h, w):
  rng = np.random.default_rng(0)
  for k, shape in (("image", (h, w, 3)), ("label", (h, w)),
                   ("depth", (h, w, 1))):
    os.makedirs(os.path.join(root, "train", k), exist_ok=True)
    for i in range(n):
      np.save(os.path.join(root, "train", k, f"{i}.npy"),
              rng.uniform(-1, 6, shape).astype(np.float32))


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--num", type=int, default=48)
  ap.add_argument("--batches", type=int, default=20)
  args = ap.parse_args()
  tmp = tempfile.mkdtemp()
  t = time.perf_counter()
  scenes.write_dataset(tmp, args.num, 256, 512, splits=(("train", 1.0),),
                       kitti_sequences=2, layouts=("cityscapes",))
  gen = args.num / (time.perf_counter() - t)
  t = time.perf_counter()
  scenes.write_dataset(tmp, args.num, 256, 512, kitti_sequences=2,
                       layouts=("kitti",), farneback=False)
  gen_kitti = args.num / (time.perf_counter() - t)
  print(f"generator (1 process, 256x512): cityscapes layout with Farneback "
        f"{gen:.1f} samples/s; kitti layout {gen_kitti:.1f} frames/s")
  print("| reader | 128×256 ex/s | 256×512 ex/s |")
  print("|---|---|---|")
  cs = os.path.join(tmp, "cityscapes")
  rows = {
      "cityscapes (19 cl., semantic+depth)": lambda h, w: CityscapesSource(
          cs, height=h, width=w, max_scale=1.5),
      "cityscapes (5 cl., +motion, +flow input)": lambda h, w:
          CityscapesSource(cs, scheme="5", height=h, width=w,
                           tasks=("semantic", "depth", "motion"),
                           with_flow=True, max_scale=1.5),
      "kitti_odometry (frames, pose, flow)": lambda h, w: KittiOdometrySource(
          os.path.join(tmp, "kitti"), height=h, width=w,
          sequences=["00", "01"]),
  }
  npy = {}
  for h, w in ((128, 256), (256, 512)):
    npy[(h, w)] = os.path.join(tmp, f"npy{h}")
    write_npy(npy[(h, w)], args.num, h, w)
  rows["cityscapes_npy (MTAN .npy)"] = lambda h, w: CityscapesNpySource(
      npy[(h, w)])
  for name, make in rows.items():
    r = [rate(make(h, w).dataset("train", BATCH, shuffle=True, repeat=True),
              args.batches) for h, w in ((128, 256), (256, 512))]
    print(f"| {name} | {r[0]:.0f} | {r[1]:.0f} |")


if __name__ == "__main__":
  main()
