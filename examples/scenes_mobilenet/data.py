"""A user's own data function: {split: tf.data.Dataset of examples}.

It draws tfmtl's procedural street scenes (generated once, cached) and keeps
only what this model reads: the RGB image and the three labels. Any function
returning {split: dataset of unbatched (inputs, {task: label})} works.
"""

import tensorflow as tf

from tfmtl import data


def rgb_scenes(num=40, height=64, width=128, seed=0):
  source = data.get("scenes", num=num, height=height, width=width,
                    seed=seed, with_flow=False, augment=False)
  splits = {}
  for split in ("train", "test"):
    ds = source.dataset(split, 1, drop_remainder=False).unbatch()
    splits[split] = ds.map(lambda x, y: (_image(x), y))
  return splits


def _image(inputs):
  return inputs["image"] if isinstance(inputs, dict) else inputs
