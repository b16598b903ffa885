"""What per-task datasets (tfmtl.data.multi_source) cost the input pipeline.

  .venv/bin/python bench/multi_source.py [--batches 300] [--repeats 3]

Two in-memory sources of 256 examples at 64×128 (image [64, 128, 3]; one
source labels semantic [64, 128] + motion [64, 128], the other depth
[64, 128, 1]), batch 16, shuffle + repeat. Reports examples/s of one source
read alone and of the two through `MultiSource` in mode "concat" (a batch of
each: 32 examples a step) and "sample" (annealed sampler: 16 a step), after
a warm-up; the best of `--repeats` runs (CPU load from other jobs only ever
slows a run down). The wrapper's own work is filling the absent tasks'
labels with zeros, the weights, the concatenation and the draw.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tfmtl.data.multi_source import MultiSource  # noqa: E402
from tfmtl.data.source import ArraySource  # noqa: E402

N, H, W, BATCH = 256, 64, 128, 16


def sources():
  rng = np.random.default_rng(0)
  street = ArraySource(
      rng.random((N, H, W, 3)),
      {"semantic": rng.integers(0, 5, (N, H, W)).astype(np.float32),
       "motion": rng.integers(0, 2, (N, H, W)).astype(np.float32)}, seed=0)
  far = ArraySource(rng.random((N, H, W, 3)),
                    {"depth": rng.random((N, H, W, 1)) * 80}, seed=1)
  return street, far


def rate(ds, batches):
  """Examples/s over `batches` batches after 5 warm-up batches."""
  it = iter(ds)
  for _ in range(5):
    next(it)
  t, examples = time.perf_counter(), 0
  for _ in range(batches):
    x = next(it)[0]
    examples += int(x.shape[0])
  return examples / (time.perf_counter() - t)


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--batches", type=int, default=300)
  p.add_argument("--repeats", type=int, default=3)
  a = p.parse_args()
  street, far = sources()
  parts = {"street": (street, ["semantic", "motion"]),
           "far": (far, ["depth"])}
  concat = MultiSource(parts)
  sample = MultiSource(parts, mode="sample", sampler="annealed",
                       total_steps=1000)

  def read(src):
    return src.dataset("train", BATCH, shuffle=True, repeat=True, seed=0)
  rows = (("one source alone (street)", read(street)),
          ("multi_source concat (2 sources)", read(concat)),
          ("multi_source sample, annealed", read(sample)))
  print(f"{N} examples a source at {H}x{W}, batch {BATCH}, "
        f"{a.batches} batches, best of {a.repeats}")
  print("| pipeline | examples/s |\n|---|---:|")
  for name, ds in rows:
    best = max(rate(ds, a.batches) for _ in range(a.repeats))
    print(f"| {name} | {best:.0f} |")


if __name__ == "__main__":
  main()
