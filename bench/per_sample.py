r"""Per-sample gradient variance vs one batch gradient on the pose + flow trunk.

Times, in one process, each inside its own tf.function (warm, round-robin,
median of `--repeats`): one batch gradient of the rot loss w.r.t. the shared trunk
(training-mode forward), the seed's persistent-tape loop (`get_grad_var` of
seed 000), `gradient_moments(mode="coupled")` and
`gradient_moments(mode="independent")`; prints each as a ratio to the batch
gradient, and the largest relative difference of coupled vs the seed's loop.

Run:
  python bench/per_sample.py                       # B=16, 128x320, width 1
  python bench/per_sample.py --batch=8 --height=32 --width=80 --width_mult=0.25
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from tfmtl import losses, per_sample  # noqa: E402
from tfmtl.models.pose_flow import PoseFlowNet  # noqa: E402


def seed_loop(model, images, labels, variables, batch_size):
  """Seed 000's get_grad_var, the bug-free parts verbatim in spirit."""
  var = [None] * len(variables)
  samples = [None] * batch_size
  with tf.GradientTape(persistent=True) as tape:
    pred = model(images, training=True)["rot"]
    batch_loss = losses.l1(labels, pred)
    loss = tf.reduce_mean(batch_loss)
    mean = tape.gradient(loss, variables)
    for k in range(batch_size):
      samples[k] = tape.gradient(batch_loss[k], variables)
  del tape
  for sample in samples:
    for k, (g1, g2) in enumerate(zip(mean, sample)):
      term = (1 / batch_size) * tf.square(g1 - g2)
      var[k] = term if var[k] is None else var[k] + term
  return var


def timed(fns, repeats):
  """Median warm time of each fn, timed round-robin so drifting load from
  other jobs hits every row alike; returns {name: (seconds, last output)}."""
  outs = {name: fn() for name, fn in fns}  # trace + warm up
  times = {name: [] for name, _ in fns}
  for _ in range(repeats):
    for name, fn in fns:
      start = time.perf_counter()
      outs[name] = tf.nest.map_structure(lambda t: t.numpy(), fn())
      times[name].append(time.perf_counter() - start)
  return {name: (statistics.median(times[name]), outs[name])
          for name, _ in fns}


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--batch", type=int, default=16)
  p.add_argument("--height", type=int, default=128)
  p.add_argument("--width", type=int, default=320)
  p.add_argument("--width_mult", type=float, default=1.0)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--skip_seed", action="store_true")
  a = p.parse_args()
  model = PoseFlowNet(task_names=["rot"], width=a.width_mult)
  images = {"frames": tf.random.uniform([a.batch, a.height, a.width, 6])}
  labels = tf.random.normal([a.batch, 3])
  model(images)
  shared = model.shared_variables
  loss_fn = lambda out, lab: losses.l1(lab, out["rot"])

  @tf.function
  def batch_gradient():
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(loss_fn(model(images, training=True), labels))
    return tape.gradient(loss, shared)

  def moments(mode):
    return tf.function(lambda: per_sample.gradient_moments(
        model, images, labels, loss_fn, shared, mode=mode))

  rows = [("batch gradient", batch_gradient)]
  if not a.skip_seed:
    rows.append(("seed loop", tf.function(
        lambda: seed_loop(model, images, labels, shared, a.batch))))
  rows += [("coupled", moments("coupled")),
           ("independent", moments("independent"))]
  results = timed(rows, a.repeats)
  base = results["batch gradient"][0]
  print(f"pose_flow trunk, B={a.batch}, {a.height}x{a.width}, "
        f"width {a.width_mult}, median of {a.repeats}")
  print("| computation | time (s) | ratio to batch gradient |")
  print("|---|---|---|")
  for name, (t, _) in results.items():
    print(f"| {name} | {t:.3f} | {t / base:.2f}x |")
  if "seed loop" in results:
    seed_var = results["seed loop"][1]
    coupled_var = results["coupled"][1][1]
    # One scale for all variables: conv biases before BatchNorm have a zero
    # gradient in exact arithmetic, so their variances are rounding noise.
    scale = max(float(tf.reduce_max(tf.abs(s))) for s in seed_var)
    err = max(float(tf.reduce_max(tf.abs(c - s)))
              for c, s in zip(coupled_var, seed_var))
    print(f"coupled vs seed loop: max |Δv| / max |v| = {err / scale:.2e}")


if __name__ == "__main__":
  main()
