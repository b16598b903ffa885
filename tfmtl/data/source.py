"""What every data source offers: `dataset(split, batch_size, ...)`.

A source yields `(inputs, labels)` with `labels` a dict keyed by task name.
`dataset` is what `strategy.distribute_datasets_from_function` calls: it
shards by the `tf.distribute.InputContext` and batches per replica.
"""

from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfmtl.errors import UserError

SPLITS = ("train", "val", "test")


class ArraySource:
  """An in-memory source over numpy arrays, split once by a permutation.

  Args:
    inputs: [N, ...] array.
    labels: {task: [N, ...] array}.
    splits: fractions of train/val/test.
    seed: seed of the split permutation and of shuffling.
  """

  def __init__(self, inputs: np.ndarray, labels: Dict[str, np.ndarray],
               splits: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0):
    n = len(inputs)
    perm = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum([int(round(f * n)) for f in splits])
    parts = np.split(perm, bounds[:-1])
    self._index = dict(zip(SPLITS, parts))
    self._inputs = inputs.astype(np.float32)
    self._labels = {k: v.astype(np.float32) for k, v in labels.items()}
    self.seed = seed

  @property
  def task_names(self):
    """The tasks the source labels: the keys of its label dict."""
    return list(self._labels)

  @property
  def input_shape(self):
    return self._inputs.shape[1:]

  def num_examples(self, split: str) -> int:
    return len(self.arrays(split)[0])

  def arrays(self, split: str):
    """(inputs, labels) of a split as numpy arrays."""
    if split not in self._index:
      raise UserError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    idx = self._index[split]
    return self._inputs[idx], {k: v[idx] for k, v in self._labels.items()}

  def dataset(self, split: str, batch_size: int, *, shuffle: bool = False,
              repeat: bool = False, seed: Optional[int] = None,
              drop_remainder: bool = True,
              input_context: Optional[tf.distribute.InputContext] = None):
    """A tf.data pipeline of batches (inputs, {task: label}) of `split`.

    Args:
      split: "train", "val" or "test" (what the source has).
      batch_size: global batch size; with `input_context`, split over the
        replicas (each pipeline batches its share).
      shuffle: shuffle the examples (seeded by `seed`, else the source's).
      repeat: repeat the split without end.
      seed: the shuffle seed.
      drop_remainder: drop a last, smaller batch.
      input_context: a tf.distribute input context: shard by input pipeline.
    """
    x, y = self.arrays(split)
    if len(x) == 0:
      raise UserError(
          f"split {split!r} of this in-memory source is empty (it has "
          f"{len(self._inputs)} examples in all, split "
          f"{', '.join(f'{k} {len(v)}' for k, v in self._index.items())}); "
          "give the source more examples (e.g. config.data.kwargs.n)")
    # Indices, shuffled per epoch by a permutation drawn from (seed, epoch),
    # then whole batches gathered: an iterator checkpoint holds a position
    # and one permutation, not a shuffle buffer of examples (a toy run's
    # checkpoint went from 5.5 MB to 0.27 MB: weights, Adam slots, one
    # permutation, one prefetched batch).
    n = len(x)
    if shuffle:
      key = self.seed if seed is None else seed

      def epoch(e):
        perm = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64),
            seed=tf.stack([tf.constant(key, tf.int64), e]))
        return tf.data.Dataset.from_tensor_slices(perm)
      epochs = tf.data.Dataset.range(2 ** 62 if repeat else 1)
      ds = epochs.flat_map(epoch)
    else:
      ds = tf.data.Dataset.range(n)
      if repeat:
        ds = ds.repeat()
    if input_context is not None:
      ds = ds.shard(input_context.num_input_pipelines,
                    input_context.input_pipeline_id)
      batch_size = input_context.get_per_replica_batch_size(batch_size)
    inputs = tf.constant(x)
    labels = {k: tf.constant(v) for k, v in y.items()}
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    # One batch ahead, not AUTOTUNE: gathering from memory is cheap, and an
    # autotuned buffer (up to ~30 batches) would be saved with every
    # iterator checkpoint.
    return ds.map(lambda i: (tf.gather(inputs, i),
                             {k: tf.gather(v, i) for k, v in labels.items()})
                  ).prefetch(1)


def batched(spec) -> bool:
  """Every component has rank ≥ 1 and an unknown first dimension: the
  element spec of `ds.batch(n)` (an unbatched scalar label has rank 0)."""
  parts = tf.nest.flatten(spec)
  return bool(parts) and all(
      p.shape.rank is not None and p.shape.rank >= 1 and p.shape[0] is None
      for p in parts)


class DatasetSource:
  """A source over a user's own tf.data datasets, one per split.

  Args:
    splits: {split: tf.data.Dataset of `(inputs, {task: label})` examples,
      or of batches of them}; "train" is required.
    seed: shuffle seed when `dataset` is given none.

  What a user data function (`--config.data.name=module:function`) may
  return instead of a source object. A split whose every component has an
  unknown leading dimension (`ds.batch(n)` without drop_remainder) is taken
  as batched and unbatched here: the run batches by `config.batch_size`
  and shuffles examples, not batches.
  """

  def __init__(self, splits, seed: int = 0):
    if "train" not in splits:
      raise UserError(f"a data function must return at least a 'train' "
                      f"dataset; it returned splits {sorted(splits)}")
    for name, ds in splits.items():
      spec = getattr(ds, "element_spec", None)
      if not (isinstance(spec, tuple) and len(spec) >= 2 and
              isinstance(spec[1], dict)):
        raise UserError(
            f"split {name!r}: expected a tf.data.Dataset of unbatched "
            f"(inputs, {{task: label}}) examples, got element spec {spec}")
    self._splits = {name: ds.unbatch() if batched(ds.element_spec) else ds
                    for name, ds in splits.items()}
    self.seed = seed
    self._counted = {}

  @property
  def task_names(self):
    """The tasks the source labels: the keys of its label dict."""
    return list(self._splits["train"].element_spec[1])

  def num_examples(self, split: str) -> int:
    """Examples of a split: its cardinality, or counted once (a filtered or
    unbatched dataset does not know its size)."""
    ds = self._get(split)
    n = int(ds.cardinality())
    if n == tf.data.INFINITE_CARDINALITY:
      raise UserError(f"split {split!r} is infinite (repeat()): return it "
                      "without repeat, the run repeats it")
    if n < 0:
      n = self._counted.get(split)
      if n is None:
        n = int(ds.reduce(np.int64(0), lambda c, _: c + 1))
        self._counted[split] = n
    return n

  def _get(self, split):
    if split not in self._splits:
      raise UserError(f"this data function has no {split!r} split; it has "
                      f"{', '.join(sorted(self._splits))}")
    return self._splits[split]

  def dataset(self, split: str, batch_size: int, *, shuffle: bool = False,
              repeat: bool = False, seed: Optional[int] = None,
              drop_remainder: bool = True,
              input_context: Optional[tf.distribute.InputContext] = None):
    """A tf.data pipeline of batches (inputs, {task: label}) of `split`,
    sharded by `input_context` (a tf.distribute input context) when given;
    the arguments are those of `ArraySource.dataset`.
    """
    ds = self._get(split)
    if input_context is not None:
      ds = ds.shard(input_context.num_input_pipelines,
                    input_context.input_pipeline_id)
      batch_size = input_context.get_per_replica_batch_size(batch_size)
    if shuffle:
      ds = ds.shuffle(10_000, seed=self.seed if seed is None else seed,
                      reshuffle_each_iteration=True)
    if repeat:
      ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(
        tf.data.AUTOTUNE)
