"""Shared keras-hub-style checks for dense multi-task models.

A test module subclasses `DenseModelHarness` as `class TestX(...)` and sets
the registry name, kwargs and tasks; pytest then runs every check below on
that model: eager and symbolic calls with per-task output shapes at two
input sizes, weight counts, get_config round trip, the shared/task partition
with zero cross-task gradients, one train step that lowers the loss, and a
SavedModel export whose reload gives the same outputs.
"""

import os
from typing import Dict, Optional, Sequence, Tuple

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfmtl.models
from tfmtl import losses, methods
from tfmtl.errors import UserError
from tfmtl.tasks import Task
from tfmtl.engine import check_partition, make_train_step

LOSS_OF = {"semantic": "sparse_ce", "motion": "sparse_ce",
           "depth": "masked_l1", "normal": "mse"}


def make_inputs(keys, batch, height, width, seed=0, channels=3):
  rng = np.random.default_rng(seed)
  return {k: tf.constant(rng.uniform(0, 1, (batch, height, width, channels)),
                         tf.float32) for k in keys}


def make_labels(tasks: Dict[str, int], batch, height, width, seed=1):
  """Labels in the repo's conventions: 255 = ignore, depth 0 = invalid."""
  rng = np.random.default_rng(seed)
  out = {}
  for t, c in tasks.items():
    if t == "depth":
      d = rng.uniform(1, 10, (batch, height, width, 1))
      d[rng.uniform(size=d.shape) < 0.1] = 0
      out[t] = tf.constant(d, tf.float32)
    elif LOSS_OF[t] != "sparse_ce":
      out[t] = tf.constant(rng.normal(size=(batch, height, width, c)),
                           tf.float32)
    else:
      y = rng.integers(0, c, (batch, height, width))
      y[rng.uniform(size=y.shape) < 0.1] = 255
      out[t] = tf.constant(y, tf.int32)
  return out


def check_representation(model, inputs):
  """call == heads(Z); the heads read every tensor of Z and no shared
  variable, so shared gradients flow through Z alone (MGDA-UB's chain
  rule)."""
  z, heads = model.call_split(inputs, training=False)
  want = model(inputs, training=False)
  got = heads(z)
  assert sorted(got) == sorted(want)
  for t in want:
    np.testing.assert_allclose(got[t].numpy(), want[t].numpy(), rtol=1e-5,
                               atol=1e-6)
  z = tf.nest.map_structure(tf.stop_gradient, z)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(z)
    out = heads(z)
    total = tf.add_n([tf.reduce_sum(tf.square(o)) for o in out.values()])
  for v, g in zip(model.shared_variables,
                  tape.gradient(total, model.shared_variables)):
    assert g is None, f"heads read shared variable {v.path}"
  for g in tf.nest.flatten(tape.gradient(total, z)):
    assert g is not None and np.any(g.numpy() != 0), "unused tensor in Z"
  del tape


def _bn_stat_params(model):
  return sum(2 * int(np.prod(l.gamma.shape))
             for l in model._flatten_layers(include_self=False)  # pylint: disable=protected-access
             if isinstance(l, keras.layers.BatchNormalization))


class DenseModelHarness:
  """Set these in the subclass."""
  name: str = ""
  kwargs: dict = {}
  task_names: Sequence[str] = ("depth", "semantic")
  channels: Dict[str, int] = {"depth": 1, "semantic": 7}
  input_keys: Tuple[str, ...] = ("image",)
  sizes: Sequence[Tuple[int, int]] = ((32, 64), (64, 32))
  batch: int = 2
  expected_trainable_params: Optional[int] = None
  # False skips the two slow checks (train step, export) for a variant whose
  # code path another class of the same model already covers.
  heavy: bool = True
  # True exports through tfmtl.export (ExportArchive), else SavedModel save.
  keras_export: bool = False
  # Whether the heads read only a shared representation (call_split).
  has_representation: bool = True
  input_channels: int = 3
  # False skips the LiteRT float32 parity check (classifier harnesses).
  litert: bool = True

  # --- hooks a non-dense model overrides ------------------------------------

  def make_inputs(self, batch, height, width, seed=0):
    return make_inputs(self.input_keys, batch, height, width, seed,
                       self.input_channels)

  def make_labels(self, batch, height, width):
    return make_labels(self.channels, batch, height, width)

  def out_shape(self, task, height, width):
    return (height, width, self.channels[task])

  def loss_of(self, task):
    return LOSS_OF[task]

  def build(self):
    keras.utils.set_random_seed(0)
    return tfmtl.models.get(self.name, task_names=list(self.task_names),
                            **self.kwargs)

  @pytest.fixture(scope="class")
  def model(self):
    m = self.build()
    m(self.make_inputs(self.batch, *self.sizes[0]))
    return m

  # --- calls ---------------------------------------------------------------

  def test_eager_output_shapes_at_two_sizes(self, model):
    for h, w in self.sizes:
      out = model(self.make_inputs(self.batch, h, w))
      assert sorted(out) == sorted(self.task_names)
      for t in self.task_names:
        assert tuple(out[t].shape) == (self.batch,) + self.out_shape(t, h, w)
        assert np.all(np.isfinite(out[t].numpy()))
      if "depth" in out:
        assert np.all(out["depth"].numpy() >= 0)

  def test_symbolic_call(self, model):
    h, w = self.sizes[1]
    inputs = {k: keras.Input((h, w, self.input_channels), name=k)
              for k in self.input_keys}
    out = model(inputs)
    for t in self.task_names:
      assert tuple(out[t].shape) == (None,) + self.out_shape(t, h, w)

  # --- weights and config ----------------------------------------------------

  def test_weight_counts(self, model):
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    fixed = sum(int(np.prod(v.shape))
                for v in model.non_trainable_variables)
    # The only non-trainable weights are BatchNorm's moving mean/variance
    # and the states of dropout's seed generators.
    seeds = sum(int(np.prod(v.shape)) for v in model.non_trainable_variables
                if "seed_generator" in v.path)
    assert fixed == _bn_stat_params(model) + seeds
    assert trainable + fixed - seeds == model.count_params()
    if self.expected_trainable_params is not None:
      assert trainable == self.expected_trainable_params

  def test_config_round_trip(self, model):
    config = model.get_config()
    clone = type(model).from_config(config)
    clone(self.make_inputs(1, *self.sizes[0]))
    assert clone.count_params() == model.count_params()
    strip = lambda c: {k: v for k, v in c.items() if k != "name"}
    assert strip(clone.get_config()) == strip(config)

  # --- shared / task split ------------------------------------------------

  def test_partition_and_cross_task_gradients(self, model):
    check_partition(model, list(self.task_names))
    h, w = self.sizes[0]
    inputs = self.make_inputs(self.batch, h, w)
    labels = self.make_labels(self.batch, h, w)
    with tf.GradientTape(persistent=True) as tape:
      out = model(inputs, training=True)
      task_loss = {t: tf.reduce_mean(losses.get(self.loss_of(t))(labels[t],
                                                            out[t]))
                   for t in self.task_names}
    for t in self.task_names:
      own = model.task_variables(t)
      grads = tape.gradient(task_loss[t], own)
      assert any(g is not None and np.any(g.numpy() != 0) for g in grads), t
      for other in self.task_names:
        if other == t:
          continue
        for v, g in zip(model.task_variables(other),
                        tape.gradient(task_loss[t],
                                      model.task_variables(other))):
          assert g is None or not np.any(g.numpy()), (t, v.path)
    # Every trainable variable moves some task's loss (a layer built but
    # left out of the forward pass — a cross-stitch unit not applied —
    # would get no gradient).
    moved = np.zeros(len(model.trainable_variables), bool)
    for t in self.task_names:
      for i, g in enumerate(tape.gradient(task_loss[t],
                                          model.trainable_variables)):
        moved[i] |= g is not None and bool(np.any(g.numpy() != 0))
    for v, ok in zip(model.trainable_variables, moved):
      assert ok, v.path
    del tape

  # --- shared representation ------------------------------------------------

  def test_representation_split(self, model):
    assert model.has_representation == self.has_representation
    inputs = self.make_inputs(self.batch, *self.sizes[0])
    if not self.has_representation:
      with pytest.raises(UserError, match="no single shared representation"):
        model.call_split(inputs)
      return
    check_representation(model, inputs)

  # --- training and export --------------------------------------------------

  def test_train_step_lowers_loss(self):
    if not self.heavy:
      pytest.skip("covered by the heavy variant of this model")
    model = self.build()
    h, w = self.sizes[0]
    inputs = self.make_inputs(self.batch, h, w)
    labels = self.make_labels(self.batch, h, w)
    model(inputs)
    tasks = [Task(t, losses.get(self.loss_of(t))) for t in self.task_names]
    step = make_train_step(model, tasks, methods.get("fixed"),
                           keras.optimizers.Adam(3e-3), function=False)
    first = step((inputs, labels))["total_loss"].numpy()
    for _ in range(2):
      last = step((inputs, labels))["total_loss"].numpy()
    assert np.isfinite(first) and last < first

  @pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
  def test_mixed_precision_call(self, policy):
    """Under a mixed policy the model builds and calls (ops such as
    tf.image.resize return float32 from a 16-bit input: every sum must
    cast) and its outputs are finite (the step casts them to float32)."""
    if not self.heavy:
      pytest.skip("covered by the heavy variant of this model")
    keras.mixed_precision.set_global_policy(policy)
    try:
      model = self.build()
      out = model(self.make_inputs(self.batch, *self.sizes[0]))
    finally:
      keras.mixed_precision.set_global_policy("float32")
    for t in self.task_names:
      assert out[t].dtype.is_floating, (t, out[t].dtype)
      assert np.all(np.isfinite(tf.cast(out[t], tf.float32).numpy())), t

  def test_savedmodel_export_reload(self, model, tmp_path):
    if not self.heavy:
      pytest.skip("covered by the heavy variant of this model")
    h, w = self.sizes[0]
    inputs = self.make_inputs(1, h, w, seed=3)
    spec = {k: tf.TensorSpec([None, h, w, self.input_channels],
                             tf.float32)
            for k in self.input_keys}
    path = os.path.join(tmp_path, "saved")
    if self.keras_export:
      # The project's export path (keras.export.ExportArchive): slow to
      # write for big graphs, so only the small models take it.
      from tfmtl.export import export_saved_model  # pylint: disable=g-import-not-at-top
      export_saved_model(model, spec, path)
    else:
      # Same SavedModel format, written by tf.saved_model.save directly.
      module = tf.Module()
      module.weights = list(model.variables)
      module.serve = tf.function(lambda x: model(x, training=False),
                                 input_signature=[spec], autograph=False)
      tf.saved_model.save(module, path)
    reloaded = tf.saved_model.load(path)
    got = reloaded.serve(inputs)
    want = model(inputs, training=False)
    for t in self.task_names:
      np.testing.assert_allclose(got[t].numpy(), want[t].numpy(), rtol=1e-4,
                                 atol=1e-5)


  def _export_case(self):
    """(Keras inputs, runtime feeds, spec, kinds) of the parity checks: the
    serving signature takes the uint8 image, so Keras gets that image
    scaled back to [0, 1]."""
    if not self.heavy:
      pytest.skip("covered by the heavy variant of this model")
    if not self.litert:
      pytest.skip("classifier harness: its export parity is checked on the "
                  "dense models, which share the export code")
    h, w = self.sizes[0]
    inputs = self.make_inputs(2, h, w, seed=4)
    feeds = {k: v.numpy() for k, v in inputs.items()}
    if "image" in feeds:
      feeds["image"] = np.round(feeds["image"] * 255).astype(np.uint8)
      inputs = dict(inputs, image=tf.constant(feeds["image"], tf.float32)
                    / 255.0)
    spec = {k: tf.TensorSpec([1, h, w, self.input_channels], tf.float32)
            for k in self.input_keys}
    kinds = {t: "segmentation" if LOSS_OF[t] == "sparse_ce" else t
             for t in self.task_names}
    return inputs, feeds, spec, kinds

  def _check_logits(self, model, inputs, got):
    """Each task's logits within 1e-4 of the output's largest value."""
    want = model(inputs, training=False)
    for t in self.task_names:
      y = want[t].numpy()
      diff = np.abs(got[f"{t}_logits"] - y).max()
      assert diff <= 1e-4 * np.abs(y).max(), (t, diff, np.abs(y).max())

  def test_litert_float32_equals_keras(self, model, tmp_path):
    """The shipped export path (serving SavedModel -> LiteRT float32) gives
    the Keras logits: LiteRT's kernels sum in another order, a few float32
    ulps a layer."""
    inputs, feeds, spec, kinds = self._export_case()
    from tfmtl.export import litert, serving  # pylint: disable=g-import-not-at-top
    path = os.path.join(tmp_path, "serving")
    serving.export_serving(model, spec, kinds, path, logits=True)
    self._check_logits(model, inputs,
                       litert.Runner(litert.convert(path))(**feeds))

  def test_onnx_equals_keras(self, model):
    """ONNX (tf2onnx, run by ONNX Runtime) of the serving function gives
    the Keras logits."""
    inputs, feeds, spec, kinds = self._export_case()
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    from tfmtl.export import onnx  # pylint: disable=g-import-not-at-top
    self._check_logits(model, inputs,
                       onnx.Runner(onnx.convert(model, spec, kinds))(**feeds))


class ClassifierHarness(DenseModelHarness):
  """The same checks for image classifiers: one [B, classes] logit vector
  a task, integer class labels, sparse cross-entropy."""
  litert = False
  channels: Dict[str, int] = {"left": 10, "right": 10}
  task_names: Sequence[str] = ("left", "right")
  input_channels: int = 1
  sizes: Sequence[Tuple[int, int]] = ((28, 28), (28, 28))

  def make_labels(self, batch, height, width):
    rng = np.random.default_rng(1)
    return {t: tf.constant(rng.integers(0, c, (batch,)), tf.int32)
            for t, c in self.channels.items()}

  def out_shape(self, task, height, width):
    return (self.channels[task],)

  def loss_of(self, task):
    return "sparse_ce"
