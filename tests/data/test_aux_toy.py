"""aux_regression: directions by variant, missing main labels, splits."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl import data
from tfmtl.data.aux_toy import directions
from tfmtl.errors import UserError


@pytest.mark.parametrize("variant,shared", [("helpful", 4), ("mixed", 2),
                                            ("harmful", 0)])
def test_directions_share_what_the_variant_says(variant, shared):
  u, s = directions(variant, 16, 4, np.random.default_rng(0))
  np.testing.assert_allclose(u @ u.T, np.eye(4), atol=1e-12)
  np.testing.assert_allclose(s @ s.T, np.eye(4), atol=1e-12)
  overlap = np.abs(u @ s.T)
  # The first `shared` auxiliary directions are main directions; the rest
  # are orthogonal to every main direction.
  np.testing.assert_allclose(overlap[:, :shared], np.eye(4)[:, :shared],
                             atol=1e-12)
  np.testing.assert_allclose(overlap[:, shared:], 0.0, atol=1e-12)


def test_splits_labels_and_missing_main_labels():
  src = data.get("aux_regression", variant="mixed", n_train=40, n_main=8,
                 n_val=10, n_test=20, seed=3)
  x, y = src.arrays("train")
  assert x.shape == (40, 16) and y["aux"].shape == (40, 4)
  assert y["main"].shape == (40, 1)
  assert not np.isnan(y["main"][:8]).any() and np.isnan(y["main"][8:]).all()
  for split, n in (("val", 10), ("test", 20)):
    xs, ys = src.arrays(split)
    assert len(xs) == n and not np.isnan(ys["main"]).any()
  # The auxiliary features are b_k tanh(s_k·x): bounded by |b_k| ≤ 1.5.
  assert np.abs(y["aux"]).max() < 1.5
  batch = next(iter(src.dataset("train", 8)))
  assert batch[0].shape == (8, 16) and batch[1]["aux"].dtype == tf.float32


def test_test_labels_are_noiseless():
  # Same seed, different noise: train labels differ, test labels do not.
  a = data.get("aux_regression", noise=0.0, seed=1)
  b = data.get("aux_regression", noise=0.5, seed=1)
  np.testing.assert_array_equal(a.arrays("test")[1]["main"],
                                b.arrays("test")[1]["main"])
  assert not np.allclose(a.arrays("train")[1]["main"][:32],
                         b.arrays("train")[1]["main"][:32])


def test_bad_arguments():
  with pytest.raises(UserError, match="variant"):
    data.get("aux_regression", variant="useful")
  with pytest.raises(UserError, match="n_main"):
    data.get("aux_regression", n_train=10, n_main=20)
  with pytest.raises(UserError, match="input_dim"):
    data.get("aux_regression", input_dim=6, num_directions=4)
