"""Scene generator throughput: samples/s in memory and written to disk.

  .venv/bin/python bench/scenes.py --num 1000 --workers 2

The wall-clock row counts both layouts' frames (2·num).

Prints a markdown table (section "Scene generator" of BENCHMARKS.md).
"""

import argparse
import os
import shutil
import tempfile
import time


from tfmtl.data import flow, scenes


def _time(fn, n):
  t0 = time.perf_counter()
  for i in range(n):
    fn(i)
  return (time.perf_counter() - t0) / n


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--num", type=int, default=1000)
  p.add_argument("--height", type=int, default=256)
  p.add_argument("--width", type=int, default=512)
  p.add_argument("--workers", type=int, default=2)
  p.add_argument("--inmem", type=int, default=20)
  p.add_argument("--cpu_num", type=int, default=50)
  a = p.parse_args()
  h, w = a.height, a.width
  rows = []
  gen = _time(lambda i: scenes.generate_sample(i, h, w), a.inmem)
  rows.append(("generate_sample (1 process, in memory)", 1 / gen, gen))
  s = scenes.generate_sample(0, h, w)
  fb = _time(lambda i: flow.farneback(s["image1"], s["image2"]), a.inmem)
  rows.append(("farneback fwd+bwd + confidence (1 process)", 1 / fb, fb))
  # CPU seconds per sample in one process (robust to a loaded machine):
  # the 2-core estimate of `num` samples is num·cpu/2.
  for layouts in (("cityscapes",), ("kitti",)):
    out = tempfile.mkdtemp(prefix="bench_scenes_")
    try:
      c0 = time.process_time()
      written = scenes.write_dataset(out, a.cpu_num, h, w, seed=0,
                                     layouts=layouts, workers=1)
      cpu = (time.process_time() - c0) / sum(written.values())
    finally:
      shutil.rmtree(out, ignore_errors=True)
    rows.append((f"write_dataset {layouts[0]} (CPU time, 1 process); "
                 f"est. {a.num} on 2 free cores: {a.num * cpu / 2:.0f} s",
                 1 / cpu, cpu))
  out = tempfile.mkdtemp(prefix="bench_scenes_")
  try:
    t0 = time.perf_counter()
    written = scenes.write_dataset(out, a.num, h, w, seed=0,
                                   workers=a.workers)
    dt = time.perf_counter() - t0
  finally:
    shutil.rmtree(out, ignore_errors=True)
  n = sum(written.values())
  rows.append((f"write_dataset cityscapes+kitti --num {a.num}, {a.workers} "
               f"workers, wall: {dt:.1f} s", n / dt, dt / n))
  print(f"{h}x{w}, {os.cpu_count()} CPUs\n")
  print("| what | samples/s | s/sample |\n|---|---:|---:|")
  for name, rate, per in rows:
    print(f"| {name} | {rate:.1f} | {per:.3f} |")


if __name__ == "__main__":
  main()
