r"""Time of one aggregator call on a random J [T, n], inside tf.function.

  TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python bench/aggregators.py \
      --methods=sum,cagrad --tasks=2,3,5 --n=5000

The method alone, without the train step around it (bench/methods.py times
whole steps). Best of `--rounds` rounds of `--calls` calls.
"""

import argparse
import os
import sys
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfmtl import aggregation  # noqa: E402


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--methods", default="sum,cagrad")
  parser.add_argument("--tasks", default="2,3,5")
  parser.add_argument("--n", type=int, default=5000)
  parser.add_argument("--calls", type=int, default=200)
  parser.add_argument("--rounds", type=int, default=3)
  args = parser.parse_args()
  names = args.methods.split(",")
  tasks = [int(t) for t in args.tasks.split(",")]
  print("| method | " + " | ".join(f"T = {t} ms" for t in tasks) + " |")
  print("|---|" + "---:|" * len(tasks))
  for name in names:
    row = []
    for t in tasks:
      J = tf.constant(np.random.default_rng(0).normal(
          size=(t, args.n)).astype(np.float32))
      agg = aggregation.get(name)
      fn = tf.function(lambda J, agg=agg: agg(J))
      fn(J)
      best = np.inf
      for _ in range(args.rounds):
        start = time.perf_counter()
        for _ in range(args.calls):
          out = fn(J)
        out.numpy()
        best = min(best, (time.perf_counter() - start) / args.calls)
      row.append(f"{best * 1e3:.2f}")
    print(f"| {name} | " + " | ".join(row) + " |", flush=True)


if __name__ == "__main__":
  main()
