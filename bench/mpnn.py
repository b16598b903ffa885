r"""CPU time of the MPNN's edge messages and train step (QM9 shapes).

Run (the table in BENCHMARKS.md "MPNN (QM9)" comes from this command):
  python bench/mpnn.py --steps=10

`messages`: Σⱼ A(eᵢⱼ) hⱼ over a batch of 32 molecules padded to 29 atoms
(18 real atoms each, QM9's mean), forward + backward, formed two ways:
`dense` builds the [B, N, N, d, d] edge matrices (PyG NNConv's formulation,
what tfmtl/models/mpnn.py did before), `factored` is
`mpnn.edge_messages` (the edge network's linear last layer moved past the
sum). `step`: a whole train step of the 11-target MPNN (equal weights,
Adam, tf.function) at the configs' sizes. Mean of --steps calls after a
warm-up call.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmtl import losses, methods  # noqa: E402
from tfmtl.data.qm9 import TASKS  # noqa: E402
from tfmtl.models.mpnn import MPNN, edge_messages  # noqa: E402
from tfmtl.tasks import Task  # noqa: E402
from tfmtl.engine import make_train_step  # noqa: E402

B, N, REAL = 32, 29, 18


def molecules(seed=0):
  rng = np.random.default_rng(seed)
  atoms = np.zeros((B, N), np.int32)
  atoms[:, :REAL] = rng.choice([1, 6, 7, 8, 9], (B, REAL))
  pos = np.zeros((B, N, 3), np.float32)
  pos[:, :REAL] = rng.normal(size=(B, REAL, 3)) * 1.5
  return {"atoms": tf.constant(atoms), "positions": tf.constant(pos)}


def timed(fn, steps):
  fn()
  t = time.perf_counter()
  for _ in range(steps):
    fn()
  return (time.perf_counter() - t) / steps * 1000


def messages(d, hid, steps):
  rng = np.random.default_rng(0)
  edge = np.zeros((B, N, N), np.float32)
  edge[:, :REAL, :REAL] = 1 - np.eye(REAL)
  u = tf.constant(rng.normal(size=(B, N, N, hid)).astype(np.float32) *
                  edge[..., None])
  w = tf.Variable(rng.normal(size=(hid, d * d)).astype(np.float32))
  bias = tf.Variable(np.zeros(d * d, np.float32))
  h = tf.constant(rng.normal(size=(B, N, d)).astype(np.float32))
  edge = tf.constant(edge)

  @tf.function
  def dense():
    with tf.GradientTape() as tape:
      a = tf.reshape(tf.einsum("bijh,hk->bijk", u, w) + bias,
                     [B, N, N, d, d]) * edge[..., None, None]
      out = tf.reduce_sum(tf.einsum("bijkl,bjl->bik", a, h))
    return tape.gradient(out, [w, bias])

  @tf.function
  def factored():
    with tf.GradientTape() as tape:
      out = tf.reduce_sum(edge_messages(u, tf.reshape(w, [hid, d, d]),
                                        tf.reshape(bias, [d, d]), edge, h))
    return tape.gradient(out, [w, bias])
  return timed(dense, steps), timed(factored, steps)


def step(d, hid, steps):
  keras.utils.set_random_seed(0)
  model = MPNN(list(TASKS), dim=d, edge_hidden=hid)
  x = molecules()
  y = {t: tf.zeros([B, 1]) for t in TASKS}
  model(x)
  train = make_train_step(model, [Task(t, losses.mse) for t in TASKS],
                          methods.get("fixed"), keras.optimizers.Adam(1e-3))
  return timed(lambda: train((x, y)), steps)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--steps", type=int, default=10)
  args = parser.parse_args()
  print("| d | edge hidden H | messages, dense (ms) | messages, factored (ms) "
        "| × | train step (ms) |")
  print("|---:|---:|---:|---:|---:|---:|")
  for d, hid in ((32, 32), (32, 128), (64, 128)):
    dense, factored = messages(d, hid, args.steps)
    print(f"| {d} | {hid} | {dense:.1f} | {factored:.1f} | "
          f"{dense / factored:.1f} | {step(d, hid, args.steps):.0f} |",
          flush=True)


if __name__ == "__main__":
  main()
