"""Per-task datasets (tfmtl.data.multi_source): concat and sampled steps.

Sources here are tiny in-memory ones (`ArraySource`, or a `DatasetSource`
that carries its own sample weights); one end-to-end run trains
configs/demo.py:multisource on tiny generated scenes.
"""

import keras
import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import data as data_lib
from tfmtl import evaluation, experiment, methods
from tfmtl.data.multi_source import MultiSource, multi_source
from tfmtl.data.source import ArraySource, DatasetSource
from tfmtl.errors import UserError
from tfmtl.tasks import Task
from tfmtl.engine import make_train_step

from tests.helpers import mse, tiny_model

B = 4


def _array_source(n, tasks, seed, inputs=3):
  rng = np.random.default_rng(seed)
  return ArraySource(rng.normal(size=(n, inputs)),
                     {t: (i + 1) * rng.normal(size=(n, 1))
                      for i, t in enumerate(tasks)}, seed=seed)


def _weighted_source(n, seed):
  """A source of task "c" with its own sample weights (a 3-tuple source)."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, 3)).astype(np.float32)
  y = rng.normal(size=(n, 2)).astype(np.float32)
  w = (rng.random(n) < 0.5).astype(np.float32)
  return DatasetSource({"train": tf.data.Dataset.from_tensor_slices(
      (x, {"c": y}, {"c": w}))})


def _two(mode="concat", **kwargs):
  a = _array_source(40, "a", 1)
  b = _array_source(60, "bz", 2)  # labels b and z; only b is used
  return MultiSource({"first": (a, ["a"]), "second": (b, ["b"])}, mode=mode,
                     **kwargs), a, b


def _numpy(element):
  return tf.nest.map_structure(np.asarray, element)


def test_concat_batch_is_the_batch_of_every_source():
  a = _array_source(40, "a", 1)
  c = _weighted_source(24, 3)
  m = MultiSource({"first": (a, ["a"]), "third": (c, ["c"])})
  assert m.task_names == ["a", "c"]
  got = m.dataset("train", B, shuffle=True, repeat=True, seed=5)
  own_a = a.dataset("train", B, shuffle=True, repeat=True, seed=5)
  own_c = c.dataset("train", B, shuffle=True, repeat=True, seed=6)
  for (x, y, w), (xa, ya), (xc, yc, wc) in zip(
      got.take(7).as_numpy_iterator(), own_a.take(7).as_numpy_iterator(),
      own_c.take(7).as_numpy_iterator()):
    assert x.shape == (2 * B, 3)
    np.testing.assert_array_equal(x, np.concatenate([xa, xc]))
    np.testing.assert_array_equal(y["a"], np.concatenate(
        [ya["a"], np.zeros((B, 1), np.float32)]))
    np.testing.assert_array_equal(y["c"], np.concatenate(
        [np.zeros((B, 2), np.float32), yc["c"]]))
    np.testing.assert_array_equal(w["a"], [1] * B + [0] * B)
    # The source's own weights (its hidden labels) are kept.
    np.testing.assert_array_equal(w["c"], np.concatenate(
        [np.zeros(B), wc["c"]]))
  # Static shapes for every label, whatever source the batch came from.
  spec = got.element_spec
  assert spec[1]["a"].shape == (2 * B, 1) and spec[1]["c"].shape == (2 * B, 2)


def _expected_update(start, parts):
  """Σ_t ∇ L_t with L_t the weighted mean over t's own batch alone."""
  ref = tiny_model()
  for v, value in zip(ref.trainable_variables, start):
    v.assign(value)
  with tf.GradientTape() as tape:
    losses = {}
    for t, (x, y, w) in parts.items():
      l = mse(y, ref(x)[t])
      losses[t] = tf.reduce_sum(w * l) / w.sum()
    total = tf.add_n(list(losses.values()))
  grads = tape.gradient(total, ref.trainable_variables)
  return [v - g for v, g in zip(start, grads)], losses


def test_concat_step_equals_each_task_on_its_own_batch(mirrored):
  # SGD with lr 1 makes the update the summed gradient. Under two replicas
  # each replica holds half of each source's batch.
  m, _, _ = _two()
  for strategy in (mirrored,):
    with strategy.scope():
      model = tiny_model()
      step = make_train_step(model, [Task("a", mse), Task("b", mse)],
                             methods.get("sum"), keras.optimizers.SGD(1.0),
                             strategy=strategy)
    start = [np.asarray(v) for v in model.trainable_variables]
    ds = strategy.distribute_datasets_from_function(
        lambda ctx: m.dataset("train", B, shuffle=True, repeat=True, seed=0,
                              input_context=ctx))
    batch = next(iter(ds))
    x, y, w = tf.nest.map_structure(
        lambda v: np.concatenate([np.asarray(r) for r in
                                  strategy.experimental_local_results(v)]),
        batch)
    parts = {t: (x[w[t] > 0], y[t][w[t] > 0], w[t][w[t] > 0]) for t in "ab"}
    assert len(parts["a"][0]) == len(parts["b"][0]) == B
    logs = step(batch)
    want, losses = _expected_update(start, parts)
    # SGD(1.0): the update is the gradient, formed by the step from the
    # weighted loss of the whole (split) batch and here from each task's
    # own batch: the same float32 sums in another order, ~1.2e-7 × ~16
    # terms × values of size ~2 ≈ 4e-6 (measured 1.2e-7).
    for got, expected in zip(model.trainable_variables, want):
      np.testing.assert_allclose(got, expected, atol=5e-6)
    for t in "ab":
      np.testing.assert_allclose(float(logs[f"loss/{t}"]), losses[t],
                                 rtol=1e-5)


def test_num_examples_per_mode_and_other_splits_concatenate():
  """An epoch (it sets steps_per_epoch): the largest source's examples in
  mode "concat" (a step reads every source), all of them in mode "sample"
  (a step reads one). Sources of 40 and 60 examples (32 and 48 train)."""
  for mode in ("concat", "sample"):
    m, a, b = _two(mode)
    for split, (na, nb) in (("train", (32, 48)), ("test", (4, 6))):
      assert (a.num_examples(split), b.num_examples(split)) == (na, nb)
      want = max(na, nb) if mode == "concat" else na + nb
      assert m.num_examples(split) == want, (mode, split)
  # The samplers' default n_k are the sources' train examples.
  m = _two("sample", sampler="proportional")[0]
  np.testing.assert_allclose(m.probabilities(0), [32 / 80, 48 / 80],
                             rtol=1e-12)
  # Mode "sample" draws one source per batch for training only: other
  # splits concatenate a batch of every source, in order.
  x, y, w = next(m.dataset("test", 2).as_numpy_iterator())
  xa, ya = next(_two()[1].dataset("test", 2).as_numpy_iterator())
  assert x.shape == (4, 3)
  np.testing.assert_array_equal(x[:2], xa)
  np.testing.assert_array_equal(w["a"], [1, 1, 0, 0])
  np.testing.assert_array_equal(w["b"], [0, 0, 1, 1])


def test_annealed_training_draws_use_the_epoch_of_the_sources():
  """Without steps_per_epoch the annealed sampler's epoch is
  Σ_k n_k // batch_size batches (n_k the samplers' weights: 80 // 4 = 20
  here), and the dataset's batch k comes from the source
  `draw(k, seed, 20)` picks."""
  m, a, b = _two("sample", sampler="annealed", total_steps=100,
                 sizes={"first": 60, "second": 20})
  got = list(m.dataset("train", B, shuffle=True, repeat=True, seed=4)
             .take(100).as_numpy_iterator())
  drawn = [int(m.draw(k, seed=4, steps_per_epoch=20)) for k in range(100)]
  # The annealing shows: the 3:1 source dominates epoch 0 (α ≈ 1.2) more
  # than epoch 4 (α ≈ 0.4).
  assert drawn[:20].count(0) > drawn[80:].count(0)
  # The epoch length matters to the draw: another one (60 // 4, the
  # largest source's) picks other sources at some steps.
  other = [int(m.draw(k, seed=4, steps_per_epoch=15)) for k in range(100)]
  assert drawn != other
  for (x, y, w), k in zip(got, drawn):
    assert w["a" if k == 0 else "b"].sum() == B
    assert w["b" if k == 0 else "a"].sum() == 0


def _three(**kwargs):
  parts = {k: (_array_source(20, [t], i), [t])
           for i, (k, t) in enumerate((("p", "a"), ("q", "b"), ("r", "c")))}
  return MultiSource(parts, mode="sample",
                     sizes={"p": 1000, "q": 250, "r": 37}, **kwargs)


def test_sampler_probabilities_are_model_gardens():
  n = np.array([1000.0, 250.0, 37.0])
  # Uniform: 1/K.
  np.testing.assert_allclose(_three().probabilities(123), [1 / 3] * 3,
                             rtol=1e-15)
  # Proportional: n^α / Σ n^α.
  got = _three(sampler="proportional", alpha=0.7).probabilities(9)
  np.testing.assert_allclose(got, n ** 0.7 / np.sum(n ** 0.7), rtol=1e-12)
  # Annealed (Model Garden's AnnealingTaskSampler): e = ⌊step / spe⌋,
  # E = total / spe, α = 1 − 0.8 (e − 1) / (E − 1 + 1e-10), p ∝ n^α; held
  # at the last epoch's α after total_steps.
  m = _three(sampler="annealed", steps_per_epoch=10, total_steps=55)
  big_e = 55 / 10
  for step, e in ((0, 0), (9, 0), (10, 1), (27, 2), (54, 5), (80, 5)):
    alpha = 1.0 - 0.8 * (e - 1) / (big_e - 1 + 1e-10)
    np.testing.assert_allclose(m.probabilities(step),
                               n ** alpha / np.sum(n ** alpha), rtol=1e-12)
  # Epoch 1 is exactly proportional; later epochs move towards uniform.
  np.testing.assert_allclose(m.probabilities(10), n / n.sum(), rtol=1e-12)
  assert m.probabilities(54).numpy()[0] < m.probabilities(10).numpy()[0]


def _draws(m, seed, n=600):
  return np.array(list(tf.data.Dataset.range(n).map(
      lambda s: m.draw(s, seed)).as_numpy_iterator()))


def test_the_draw_is_model_gardens_and_fixed_by_seed_and_step():
  m = _three(sampler="proportional", alpha=0.5)
  p = m.probabilities(0).numpy()
  draws = _draws(m, 7)
  # The first source whose CDF exceeds u ~ U[0, 1) keyed by (seed, step).
  for s in (0, 1, 99, 599):
    u = tf.random.stateless_uniform([], tf.constant([7, s], tf.int64),
                                    dtype=tf.float64).numpy()
    assert draws[s] == int(np.argmax(np.cumsum(p) > u))
  np.testing.assert_array_equal(draws, _draws(m, 7))
  assert not np.array_equal(draws, _draws(m, 8))
  # Frequencies within 4 binomial standard deviations of p.
  counts = np.bincount(draws, minlength=3)
  assert np.all(np.abs(counts - 600 * p) < 4 * np.sqrt(600 * p * (1 - p)))


@pytest.mark.parametrize("mode", ["concat", "sample"])
def test_a_resumed_iterator_yields_the_same_batches(mode, tmp_path):
  m, a, b = _two(mode, sampler="proportional")

  def fresh():
    return m.dataset("train", B, shuffle=True, repeat=True, seed=3)
  full = list(fresh().take(12).as_numpy_iterator())
  # Replayed (train.py's skip=) ...
  resumed = list(fresh().skip(5).take(7).as_numpy_iterator())
  for got, want in zip(resumed, full[5:]):
    tf.nest.map_structure(np.testing.assert_array_equal, got, want)
  # ... or restored from an iterator checkpoint (single device).
  it = iter(fresh())
  for _ in range(5):
    next(it)
  path = tf.train.Checkpoint(iterator=it).save(str(tmp_path / "it"))
  it = iter(fresh())
  tf.train.Checkpoint(iterator=it).restore(path)
  for want in full[5:]:
    tf.nest.map_structure(np.testing.assert_array_equal, _numpy(next(it)),
                          want)
  if mode == "sample":
    # Batch k is the next batch of the source drawn for step k.
    streams = [iter(s.dataset("train", B, shuffle=True, repeat=True,
                              seed=3 + i).as_numpy_iterator())
               for i, s in enumerate((a, b))]
    drawn = [int(m.draw(k, seed=3)) for k in range(12)]
    assert set(drawn) == {0, 1}
    for k, (x, y, w) in enumerate(full):
      xs, ys = next(streams[drawn[k]])
      task, other = ("a", "b") if drawn[k] == 0 else ("b", "a")
      np.testing.assert_array_equal(x, xs)
      np.testing.assert_array_equal(y[task], ys[task])
      np.testing.assert_array_equal(y[other], np.zeros_like(y[other]))
      np.testing.assert_array_equal(w[task], np.ones(B))
      np.testing.assert_array_equal(w[other], np.zeros(B))


@pytest.mark.parametrize("which", ["plain", "concat", "sample"])
def test_train_dataset_skip_replays_under_mirrored(which, mirrored):
  # What train.py does on resume when the iterator can't be saved. Under
  # MirroredStrategy one pipeline gives each of the 2 replicas a batch in
  # turn, so a step reads 2 of its batches (a plain source too).
  m = _two(which)[0] if which != "plain" else _array_source(40, "a", 1)
  config = ml_collections.ConfigDict(dict(batch_size=B, seed=2))
  exp = experiment.Experiment(config, mirrored, m, [], None, None, None)
  full, resumed = iter(exp.train_dataset()), iter(exp.train_dataset(skip=4))
  for _ in range(4):
    next(full)
  for _ in range(4):
    got, want = (_local(next(it), mirrored) for it in (resumed, full))
    for g, w in zip(tf.nest.flatten(got), tf.nest.flatten(want)):
      np.testing.assert_array_equal(g, w)
    if which == "sample":  # both replicas train on the step's one source
      for t in "ab":
        np.testing.assert_array_equal(got[2][t][0], got[2][t][1])


def _local(batch, strategy):
  return tf.nest.map_structure(
      lambda v: [np.asarray(r) for r in
                 strategy.experimental_local_results(v)], batch)


def test_evaluation_reads_each_task_on_its_own_source():
  m, a, b = _two()
  model = tiny_model()
  tasks = [Task("b", mse), Task("a", mse)]
  got = evaluation.evaluate(model, tasks, m, "test", 3)
  assert list(got) == ["b", "a"]
  for t, source in (("a", a), ("b", b)):
    x, y = source.arrays("test")
    err = (model(x)[t].numpy() - y[t]) ** 2
    np.testing.assert_allclose(got[t]["mse"], err.mean(), rtol=1e-5)


def test_pictures_show_each_task_on_its_own_sources_images():
  m, a, b = _two()
  got = evaluation.picture_batches(m, "test", 3)
  assert [part for part, _, _ in got] == [a, b]
  for (_, x, y), source, task in zip(got, (a, b), ("a", "b")):
    want_x, want_y = source.arrays("test")
    assert list(y) == [task]  # z, which b's source also holds, is not shown
    np.testing.assert_allclose(x, want_x[:3])
    np.testing.assert_allclose(y[task], want_y[task][:3])


def test_bad_sources_say_why():
  a = _array_source(20, "a", 1)
  wide = _array_source(20, "b", 2, inputs=4)
  with pytest.raises(UserError, match=r"'first' and 'wide'.*\[3\].*\[4\]"):
    MultiSource({"first": (a, ["a"]), "wide": (wide, ["b"])})
  with pytest.raises(UserError, match="both 'first' and 'again'"):
    MultiSource({"first": (a, ["a"]), "again": (a, ["a"])})
  with pytest.raises(UserError, match="has no task 'b'"):
    MultiSource({"first": (a, ["b"])})
  with pytest.raises(UserError, match="mode 'mix'"):
    MultiSource({"first": (a, ["a"])}, mode="mix")
  with pytest.raises(UserError, match="needs total_steps"):
    MultiSource({"first": (a, ["a"])}, mode="sample", sampler="annealed")
  with pytest.raises(UserError, match="more than one epoch"):
    _three(sampler="annealed", steps_per_epoch=10, total_steps=10
           ).probabilities(0)
  with pytest.raises(UserError, match="give name="):
    multi_source({"x": dict(name="correlated_regression", task=["y1"])})
  # Through the registry, as a config names it.
  made = data_lib.get("multi_source", sources=dict(
      one=dict(name="correlated_regression", tasks=["y1"],
               kwargs=dict(n=50, m=3)),
      two=dict(name="correlated_regression", tasks=["y2"],
               kwargs=dict(n=80, m=3, seed=1))), mode="sample",
                      sampler="proportional")
  assert made.task_names == ["y1", "y2"]
  np.testing.assert_allclose(made.probabilities(0), [40 / 104, 64 / 104])



def test_demo_config_has_a_multisource_form():
  from configs import demo  # pylint: disable=g-import-not-at-top
  for arg, mode in (("multisource", "concat"), ("multisource=sample",
                                                "sample")):
    c = demo.get_config(arg)
    kw = c.data.kwargs
    assert c.data.name == "multi_source" and kw.mode == mode
    assert list(kw.sources.street.tasks) == ["semantic", "motion"]
    assert list(kw.sources.far.tasks) == ["depth"]
    # Another draw and another camera for depth.
    assert kw.sources.far.kwargs.seed != kw.sources.street.kwargs.seed
    assert kw.sources.far.kwargs.focal_scale == 1.5
    c.steps = 1234  # the annealed sampler's length follows the run's
    assert c.data.kwargs.total_steps == 1234
  sources = demo.get_config("multisource,depth_labels=0.25").data.kwargs.sources
  assert dict(sources.far.kwargs.label_fraction) == {"depth": 0.25}
  assert "label_fraction" not in sources.street.kwargs
  sources = demo.get_config("multisource,only=motion").data.kwargs.sources
  assert list(sources) == ["street"] and list(sources.street.tasks) == [
      "motion"] and list(sources.street.kwargs.tasks) == ["motion"]
