r"""Latency per inference of one export in every runtime, and the files'
sizes: the SavedModel's `serve` signature (TensorFlow), LiteRT float32 and
int8 (`tf.lite.Interpreter`, its default threads), ONNX Runtime (CPU).

  python bench/export_latency.py --export_dir=/tmp/tfmtl_export_table/demo_s0/export

One image (batch 1, the export's own size, random uint8; the flow input
where the model takes one). Each runtime is warmed up, then the runtimes
take turns, `--calls` calls per turn, for `--rounds` rounds; the table
gives each runtime's median call and its ratio to the SavedModel's, all
from this one run (the machine is shared: read the ratios). The export
comes from `eval.py --export_formats=saved_model,tflite,tflite_int8,onnx`
(tools/export_table.py writes one per seed).
"""

import argparse
import os
import statistics
import time

import numpy as np

FILES = {"LiteRT float32": "model.tflite", "LiteRT int8": "model_int8.tflite",
         "ONNX Runtime": "model.onnx"}


def _size_mib(path):
  if os.path.isdir(path):
    return sum(os.path.getsize(os.path.join(d, f))
               for d, _, fs in os.walk(path) for f in fs) / 2 ** 20
  return os.path.getsize(path) / 2 ** 20


def _saved_model_size(export_dir):
  # The SavedModel is the directory minus the other formats' files.
  return sum(os.path.getsize(os.path.join(d, f))
             for d, _, fs in os.walk(export_dir) for f in fs
             if f not in FILES.values()) / 2 ** 20


def runtimes(export_dir):
  """{name: (call(feeds), size MiB)} and the feeds (from the .tflite's
  signature, which all formats share)."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tfmtl.export import litert  # pylint: disable=g-import-not-at-top
  out = {}
  loaded = tf.saved_model.load(export_dir)
  serve = loaded.signatures["serve"]
  out["SavedModel (TensorFlow)"] = (
      lambda feeds: {k: v.numpy() for k, v in serve(**{
          k: tf.constant(v) for k, v in feeds.items()}).items()},
      _saved_model_size(export_dir))
  lite = litert.Runner(os.path.join(export_dir, FILES["LiteRT float32"]))
  rng = np.random.default_rng(0)
  feeds = {}
  for name, (shape, dtype) in lite.inputs.items():
    shape = [1 if d < 0 else d for d in shape]
    feeds[name] = (rng.integers(0, 256, shape).astype(dtype)
                   if dtype == np.uint8 else
                   rng.normal(size=shape).astype(dtype))
  for name, file in FILES.items():
    path = os.path.join(export_dir, file)
    if not os.path.exists(path):
      continue
    if file.endswith(".onnx"):
      from tfmtl.export import onnx  # pylint: disable=g-import-not-at-top
      runner = onnx.Runner(path)
    else:
      runner = litert.Runner(path)
    out[name] = ((lambda r: lambda feeds: r(**feeds))(runner),
                 _size_mib(path))
  return out, feeds


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--export_dir", required=True)
  p.add_argument("--rounds", type=int, default=5)
  p.add_argument("--calls", type=int, default=20)
  a = p.parse_args()
  runs, feeds = runtimes(a.export_dir)
  times = {name: [] for name in runs}
  for call, _ in runs.values():
    for _ in range(3):
      call(feeds)
  for r in range(a.rounds):
    order = list(runs) if r % 2 == 0 else list(runs)[::-1]
    for name in order:
      call = runs[name][0]
      for _ in range(a.calls):
        t0 = time.perf_counter()
        call(feeds)
        times[name].append(time.perf_counter() - t0)
  base = statistics.median(times["SavedModel (TensorFlow)"])
  shapes = ", ".join(f"{k} {list(v.shape)} {v.dtype}" for k, v in
                     feeds.items())
  print(f"{a.export_dir}: inputs {shapes}\n")
  print("| runtime | median ms per inference | / SavedModel | size MiB |")
  print("|---|---:|---:|---:|")
  for name, (_, size) in runs.items():
    m = statistics.median(times[name])
    print(f"| {name} | {m * 1e3:.2f} | {m / base:.2f} | {size:.2f} |")


if __name__ == "__main__":
  main()
