"""tfmtl.kinds: a task's kind from its loss and output shape, never its name."""

import keras
import pytest

from tfmtl import kinds
from tfmtl.errors import UserError
from tfmtl.tasks import Task

B = None


@pytest.mark.parametrize("loss, out, label, want", [
    ("sparse_ce", [B, 10], [B], "classification"),
    ("sparse_ce", [B, 10], [B, 1], "classification"),
    ("sparse_ce", [B, 8, 8, 5], [B, 8, 8], "segmentation"),
    (keras.losses.SparseCategoricalCrossentropy(), [B, 4], [B], "classification"),
    (keras.losses.CategoricalCrossentropy(), [B, 4], [B, 4], "classification"),
    ("bce", [B, 1], [B, 1], "binary"),
    ("bce", [B, 3], [B, 3], "binary"),
    (keras.losses.BinaryCrossentropy(from_logits=True), [B, 1], [B], "binary"),
    ("mse", [B, 1], [B], "regression"),
    ("huber", [B, 2], [B, 2], "regression"),
    ("l1", [B, 3], [B, 3], "regression"),
    ("masked_l1", [B, 8, 8, 1], [B, 8, 8, 1], "depth"),
    ("normal", [B, 8, 8, 3], [B, 8, 8, 3], "normal"),
    ("flow_log_rmse", [B, 4, 4, 2], [B, 4, 4, 2], "flow"),
])
def test_kind_follows_the_loss_and_output_not_the_name(loss, out, label, want):
  # The names are deliberately misleading ("depth" for a classifier, ...):
  # only the loss and the shapes count.
  for name in ("depth", "semantic", "x"):
    assert kinds.resolve(Task(name, loss), out, label) == want


def test_a_users_own_loss_is_read_from_the_data():
  def mine(y, p):
    return p[:, 0]
  task = Task("t", mine)
  assert task.family is None
  assert kinds.resolve(task, [B, 10], [B], label_int=True) == "classification"
  assert kinds.resolve(task, [B, 6, 6, 3], [B, 6, 6], label_int=True) == (
      "segmentation")
  assert kinds.resolve(task, [B, 2], [B, 2]) == "regression"
  # Neither ids nor a same-size label: the loss alone.
  assert kinds.resolve(task, [B, 10], [B, 3]) == "loss"


def test_an_override_that_cannot_score_the_output_is_refused():
  task = Task("digit", "sparse_ce")
  with pytest.raises(UserError, match=r"task 'digit': kind 'segmentation' "
                     r"can't score its output \[B, 10\] against labels \[B\]"
                     r".*kinds that fit: classification"):
    kinds.resolve(task, [B, 10], [B], override="segmentation")
  with pytest.raises(UserError, match="binary needs a label with as many"):
    kinds.resolve(task, [B, 10], [B], override="binary")
  with pytest.raises(UserError, match="motion needs 2 classes"):
    kinds.resolve(Task("m", "sparse_ce"), [B, 4, 4, 3], [B, 4, 4],
                  override="motion")
  with pytest.raises(UserError, match="not a kind of task; known"):
    kinds.resolve(task, [B, 10], [B], override="accuracy")
  # An override that fits wins over the loss.
  assert kinds.resolve(Task("m", "sparse_ce"), [B, 4, 4, 2], [B, 4, 4],
                       override="motion") == "motion"
  assert kinds.resolve(Task("d", "mse", kind="depth"), [B, 4, 4, 1],
                       [B, 4, 4, 1]) == "depth"


def test_summary():
  assert kinds.summary("classification", [B, 10]) == "classification, 10 classes"
  assert kinds.summary("binary", [B, 3]) == "binary, 3 labels"
  assert kinds.summary("binary", [B, 1]) == "binary"
