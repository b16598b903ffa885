"""Procedural scenes with hidden labels (`label_fraction`): the train split
yields (inputs, labels, {task: weight}), the same images unlabelled in every
epoch; the other splits keep every label; a train step takes them."""

import keras
import numpy as np
import pytest

from tfmtl import data, methods, models, tasks
from tfmtl.errors import UserError
from tfmtl.engine import make_train_step


def _source(tmp_path, **kwargs):
  kwargs.setdefault("augment", True)
  return data.get("scenes", num=20, height=32, width=64, with_flow=False,
                  root=str(tmp_path / "scenes"), **kwargs)


def test_hidden_labels_are_fixed_per_image(tmp_path):
  source = _source(tmp_path, label_fraction={"depth": 0.25, "motion": 0.5},
                   label_seed=3)
  hidden = source.hidden_labels("train")
  assert sorted(hidden) == ["depth", "motion"]
  assert 0 < hidden["depth"].sum() < hidden["motion"].sum() < 16
  assert source.hidden_labels("test") is None
  epochs = []
  for _ in range(2):
    ds = source.dataset("train", 4, shuffle=False, drop_remainder=False)
    epochs.append(np.concatenate([b[2]["depth"].numpy() for b in ds]))
  np.testing.assert_array_equal(epochs[0], epochs[1])
  np.testing.assert_array_equal(epochs[0], hidden["depth"])
  assert len(next(iter(source.dataset("test", 4, drop_remainder=False)))) == 2
  # Shuffled and augmented, each image keeps its own weight: the weights
  # of an epoch are a permutation of the fixed ones.
  shuffled = np.concatenate([b[2]["depth"].numpy() for b in source.dataset(
      "train", 4, shuffle=True, seed=1, drop_remainder=False)])
  assert sorted(shuffled) == sorted(hidden["depth"])


def test_a_step_trains_on_partly_labelled_scenes(tmp_path):
  source = _source(tmp_path, label_fraction={"depth": 0.25})
  task_list = tasks.from_config({"depth": {"loss": "masked_l1"},
                                 "semantic": {"loss": "sparse_ce"}})
  x, y, w = next(iter(source.dataset("train", 4, shuffle=True)))
  model = models.get("hard_sharing_conv", tasks={"depth": 1, "semantic": 5})
  model(x)
  step = make_train_step(model, task_list, methods.get("pcgrad"),
                         keras.optimizers.Adam(1e-3))
  logs = step((x, y, {"depth": w["depth"]}))
  assert np.isfinite(float(logs["loss/depth"]))


def test_drop_unlabelled_keeps_only_the_labelled_images(tmp_path):
  # The baseline that discards partly labelled images: the train split is
  # the images that keep every hidden task's label, with no weights.
  full = _source(tmp_path, label_fraction={"depth": 0.5}, augment=False)
  kept = np.flatnonzero(full.hidden_labels("train")["depth"])
  dropped = _source(tmp_path, label_fraction={"depth": 0.5}, augment=False,
                    drop_unlabelled=True)
  assert dropped.num_examples("train") == len(kept) < full.num_examples(
      "train")
  assert dropped.num_examples("test") == full.num_examples("test")
  (x_all, y_all, _), = full.dataset("train", 16, drop_remainder=False).take(1)
  batch = next(iter(dropped.dataset("train", len(kept),
                                    drop_remainder=False)))
  assert len(batch) == 2  # no weights: every example is labelled
  np.testing.assert_array_equal(batch[1]["depth"].numpy(),
                                y_all["depth"].numpy()[kept])
  with pytest.raises(UserError, match="leaves no train example"):
    _source(tmp_path, label_fraction={"depth": 0.0},
            drop_unlabelled=True).num_examples("train")


def test_bad_fractions_say_why(tmp_path):
  with pytest.raises(UserError, match="fractions in \\[0, 1\\]"):
    _source(tmp_path, label_fraction={"depth": 1.5})
  with pytest.raises(UserError, match="give tasks of this source"):
    _source(tmp_path, label_fraction={"normal": 0.5})


def test_demo_config_takes_a_depth_fraction():
  from configs import demo  # pylint: disable=g-import-not-at-top
  for arg in ("depth_labels=0.25", "runlocal,depth_labels=0.25"):
    c = demo.get_config(arg)
    assert dict(c.data.kwargs.label_fraction) == {"depth": 0.25}
    assert "drop_unlabelled" not in c.data.kwargs
  c = demo.get_config("small,depth_labels=0.25,drop")
  assert c.data.kwargs.drop_unlabelled and c.data.kwargs.height == 64
