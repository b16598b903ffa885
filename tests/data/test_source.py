"""ArraySource's input pipeline: same batches as before for a seed, and an
iterator checkpoint that holds a position, not the examples."""

import os

import numpy as np
import tensorflow as tf

from tfmtl.data.source import ArraySource


def _source(n=2000, d=100):
  rng = np.random.default_rng(0)
  return ArraySource(rng.normal(size=(n, d)), {"a": rng.normal(size=(n, 1))},
                     splits=(1.0, 0.0, 0.0), seed=3)


def test_iterator_checkpoint_is_small_and_resumes_exactly(tmp_path):
  source = _source()
  it = iter(source.dataset("train", 32, shuffle=True, repeat=True))
  for _ in range(70):  # past the first epoch (62 batches)
    next(it)
  path = tf.train.Checkpoint(it=it).save(str(tmp_path / "c"))
  expected = [next(it)[0].numpy() for _ in range(5)]
  size = os.path.getsize(path + ".data-00000-of-00001")
  # The examples are 2000 × 100 floats; a shuffle buffer of them (what the
  # checkpoint held before: 1.4 MB here, 5.5 MB for the toy run) would not
  # fit. What remains is the permutation and one prefetched batch.
  assert size < 150_000, size
  again = iter(source.dataset("train", 32, shuffle=True, repeat=True))
  tf.train.Checkpoint(it=again).restore(path)
  for want in expected:
    np.testing.assert_array_equal(next(again)[0].numpy(), want)


def test_each_epoch_is_a_permutation_and_epochs_differ():
  source = _source(n=64, d=2)
  x, _ = source.arrays("train")
  batches = [b[0].numpy() for b in source.dataset(
      "train", 16, shuffle=True, repeat=True).take(8)]
  first, second = np.concatenate(batches[:4]), np.concatenate(batches[4:])
  for epoch in (first, second):
    np.testing.assert_array_equal(np.sort(epoch[:, 0]), np.sort(x[:, 0]))
  assert not np.array_equal(first, second)
  again = [b[0].numpy() for b in source.dataset(
      "train", 16, shuffle=True, repeat=True).take(8)]
  np.testing.assert_array_equal(np.concatenate(again), np.concatenate(
      batches))
