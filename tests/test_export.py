"""tfmtl.export: the serving signature, LiteRT export, atomic writes.

A tiny two-input functional network (uint8 image + float flow) with one
head of every post-processed kind; every check is against the Keras model
on the same images, post-processed here in numpy.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmtl import export
from tfmtl.errors import UserError
from tfmtl.export import formats, litert

H, W = 8, 16
KINDS = {"semantic": "segmentation", "motion": "motion", "depth": "depth",
         "normal": "normal", "flag": "binary", "pose": "regression"}


def _model():
  keras.utils.set_random_seed(0)
  image = keras.Input((H, W, 3), name="image")
  flow = keras.Input((H, W, 3), name="flow")
  x = keras.layers.Concatenate()([image, flow])
  x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
  pooled = keras.layers.GlobalAveragePooling2D()(x)
  outputs = {
      "semantic": keras.layers.Conv2D(4, 1, name="semantic")(x),
      "motion": keras.layers.Conv2D(2, 1, name="motion")(x),
      "depth": keras.layers.Conv2D(1, 1, activation="softplus",
                                   name="depth")(x),
      "normal": keras.layers.Conv2D(3, 1, name="normal")(x),
      "flag": keras.layers.Dense(1, name="flag")(pooled),
      "pose": keras.layers.Dense(6, name="pose")(pooled),
  }
  return keras.Model({"image": image, "flow": flow}, outputs)


SPEC = {"image": tf.TensorSpec([1, H, W, 3], tf.float32),
        "flow": tf.TensorSpec([1, H, W, 3], tf.float32)}


def _feeds(batch=3, seed=0):
  rng = np.random.default_rng(seed)
  return {"image": rng.integers(0, 256, (batch, H, W, 3), dtype=np.uint8),
          "flow": rng.normal(size=(batch, H, W, 3)).astype(np.float32)}


def _keras(model, feeds):
  """The Keras model's raw outputs on the serving feeds (image / 255)."""
  out = model({"image": feeds["image"].astype(np.float32) / 255.0,
               "flow": feeds["flow"]}, training=False)
  return {k: v.numpy() for k, v in out.items()}


def _softmax(y):
  e = np.exp(y - y.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def _expected(raw):
  """The serving outputs, post-processed in numpy from the raw outputs."""
  out = {}
  for t in ("semantic", "motion"):
    out[f"{t}_class"] = raw[t].argmax(-1).astype(np.int32)
    out[f"{t}_probs"] = _softmax(raw[t])
  out["depth"] = raw["depth"]
  # tf.math.l2_normalize: x / sqrt(max(|x|², 1e-12)) (a zero vector stays 0)
  out["normal"] = raw["normal"] / np.sqrt(np.maximum(
      (raw["normal"] ** 2).sum(-1, keepdims=True), 1e-12))
  out["flag_probs"] = 1 / (1 + np.exp(-raw["flag"]))
  out["flag_class"] = (out["flag_probs"] > 0.5).astype(np.int32)
  out["pose"] = raw["pose"]
  return out


def _check(got, want, rtol, atol, raw_normal):
  assert sorted(got) == sorted(want)
  for k, v in want.items():
    g = np.asarray(got[k])
    assert g.dtype == v.dtype and g.shape == v.shape, (k, g.dtype, g.shape)
    if k == "normal":
      # Normalising divides the raw output's error by its length (down to
      # ~0.01 here): scaled back by that length, it is the raw error again.
      norm = np.linalg.norm(raw_normal, axis=-1, keepdims=True)
      np.testing.assert_allclose(g * norm, v * norm, rtol=rtol, atol=atol,
                                 err_msg=k)
    elif v.dtype == np.int32:
      np.testing.assert_array_equal(g, v, err_msg=k)
    else:
      np.testing.assert_allclose(g, v, rtol=rtol, atol=atol, err_msg=k)


@pytest.fixture(scope="module")
def model():
  return _model()


@pytest.fixture(scope="module")
def serving_dir(model, tmp_path_factory):
  path = str(tmp_path_factory.mktemp("serving") / "export")
  export.export_serving(model, SPEC, KINDS, path, logits=True)
  return path


# Float32 end to end, the same ops in graph and eager mode: differences are
# a few ulps of outputs of size <= 3 (measured <= 5e-7); 1e-5 relative with
# 1e-6 absolute keeps a >10x margin.
TOL = dict(rtol=1e-5, atol=1e-6)


def test_serving_outputs_equal_post_processed_keras_in_a_fresh_process(
    model, serving_dir, tmp_path):
  feeds = _feeds()
  np.savez(tmp_path / "feeds.npz", **feeds)
  code = (
      "import numpy as np, tensorflow as tf\n"
      f"f = dict(np.load({str(tmp_path / 'feeds.npz')!r}))\n"
      f"s = tf.saved_model.load({serving_dir!r}).signatures['serve']\n"
      "out = s(image=tf.constant(f['image']), flow=tf.constant(f['flow']))\n"
      f"np.savez({str(tmp_path / 'out.npz')!r}, "
      "**{k: v.numpy() for k, v in out.items()})\n")
  proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                        text=True, timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  served = dict(np.load(tmp_path / "out.npz"))
  raw = _keras(model, feeds)
  want = _expected(raw)
  want.update({f"{k}_logits": v for k, v in raw.items()})
  _check(served, want, **TOL, raw_normal=raw["normal"])
  # Unit normals and probabilities are what they claim to be.
  norms = np.linalg.norm(served["normal"], axis=-1)
  np.testing.assert_allclose(norms[norms > 0], 1, rtol=1e-5)
  np.testing.assert_allclose(served["semantic_probs"].sum(-1), 1, rtol=1e-5)


def test_without_logits_the_signature_has_only_the_answers(model, tmp_path):
  path = str(tmp_path / "export")
  export.export_serving(model, SPEC, KINDS, path)
  sig = tf.saved_model.load(path).signatures["serve"]
  assert sorted(sig.structured_outputs) == sorted(_expected(
      _keras(model, _feeds(1))))
  inputs = sig.structured_input_signature[1]
  assert inputs["image"].dtype == tf.uint8
  assert inputs["image"].shape.as_list() == [None, H, W, 3]
  assert inputs["flow"].dtype == tf.float32


def test_the_signature_refuses_a_wrong_dtype_or_size(serving_dir):
  sig = tf.saved_model.load(serving_dir).signatures["serve"]
  feeds = _feeds(1)
  as_float = tf.constant(feeds["image"], tf.float32) / 255.0
  with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
    sig(image=as_float, flow=tf.constant(feeds["flow"]))
  with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
    sig(image=tf.zeros([1, H, W + 1, 3], tf.uint8),
        flow=tf.constant(feeds["flow"]))


def _check_runner(runner, model):
  """A runtime's answers and logits on `_feeds()` against Keras', to 1e-4
  relative; returns the feeds."""
  feeds = _feeds()
  got = runner(**feeds)
  raw = _keras(model, feeds)
  want = _expected(raw)
  want.update({f"{k}_logits": v for k, v in raw.items()})
  _check(got, want, rtol=1e-4, atol=1e-5, raw_normal=raw["normal"])
  return feeds


def test_litert_float32_equals_the_serving_outputs(model, serving_dir):
  runner = litert.Runner(litert.convert(serving_dir))
  # LiteRT's kernels sum in another order (XNNPACK): relative error of a
  # few float32 ulps per layer, ~1e-6 here; the bound is 1e-4.
  _check_runner(runner, model)


def test_litert_runner_refuses_a_wrong_dtype_or_size(serving_dir):
  runner = litert.Runner(litert.convert(serving_dir))
  feeds = _feeds(1)
  with pytest.raises(UserError, match="input 'image' must be uint8"):
    runner(image=feeds["image"].astype(np.float32), flow=feeds["flow"])
  with pytest.raises(UserError, match="input 'flow' must be float32"):
    runner(image=feeds["image"], flow=feeds["flow"][:, :, :-1])


def test_export_formats_writes_one_artefact_per_format(model, tmp_path):
  path = str(tmp_path / "export")
  train = tf.data.Dataset.from_tensor_slices(
      ({"image": np.random.default_rng(1).uniform(0, 1, (8, H, W, 3))
        .astype(np.float32),
        "flow": np.random.default_rng(2).normal(size=(8, H, W, 3))
        .astype(np.float32)}, np.zeros(8))).batch(1)
  written = formats.export_formats(model, SPEC, KINDS, path,
                                   "saved_model,tflite,tflite_int8",
                                   train_dataset=train)
  assert sorted(written) == ["saved_model", "tflite", "tflite_int8"]
  assert sorted(os.listdir(path)) == sorted(
      ["assets", "fingerprint.pb", "saved_model.pb", "variables",
       "model.tflite", "model_int8.tflite"])
  assert os.listdir(tmp_path) == ["export"]  # no temporary left behind


def test_an_unknown_or_unavailable_format_is_refused_first(model, tmp_path):
  with pytest.raises(UserError, match=r"'tflite8' is unknown; known: "
                     "saved_model, tflite, tflite_int8, onnx"):
    formats.export_formats(model, SPEC, KINDS, str(tmp_path / "e"),
                           "saved_model,tflite8")
  assert not os.listdir(tmp_path)


def test_a_failed_conversion_leaves_nothing_half_written(model, tmp_path,
                                                         monkeypatch):
  def fails(*_):
    raise UserError("LiteRT float32 conversion failed: 'tfl.x' op is "
                    "neither a custom op nor a flex op")
  monkeypatch.setattr(litert, "convert", fails)
  with pytest.raises(UserError, match="conversion failed"):
    formats.export_formats(model, SPEC, KINDS, str(tmp_path / "e"),
                           "saved_model,tflite")
  assert not os.listdir(tmp_path)  # neither the target nor a temporary


def test_litert_int8_stays_within_its_per_task_tolerance(model, serving_dir):
  rng = np.random.default_rng(1)
  train = tf.data.Dataset.from_tensor_slices((
      {"image": rng.uniform(0, 1, (32, H, W, 3)).astype(np.float32),
       "flow": rng.normal(size=(32, H, W, 3)).astype(np.float32)},
      np.zeros(32))).batch(1)
  feeds = formats.representative_feeds(model, SPEC, train, ["image"])
  first = next(iter(feeds()))
  assert first["image"].dtype == np.uint8 and first["image"].shape == (
      1, H, W, 3)
  runner = litert.Runner(litert.convert(serving_dir, feeds))
  assert runner.inputs["image"][1] == np.uint8  # the consumer's feed alike
  test = _feeds(8, seed=5)
  got, raw = runner(**test), _keras(model, test)
  # Per-task tolerances, empirical: 10x the error measured on this network
  # (int8 keeps 256 levels of each tensor's calibrated range; the measured
  # logit error is 1-6 such steps, i.e. <= 2.3% of the output's range, the
  # class maps agree on >= 98.5% of pixels, probabilities within 0.014).
  for task, y in raw.items():
    span = y.max() - y.min()
    assert np.abs(got[f"{task}_logits"] - y).max() <= 0.25 * span, task
  for task in ("semantic", "motion"):
    agree = (got[f"{task}_class"] == raw[task].argmax(-1)).mean()
    assert agree >= 0.85, (task, agree)
    assert np.abs(got[f"{task}_probs"] - _softmax(raw[task])).max() <= 0.15


def test_convertible_equals_segnets_argmax_pooling_with_ties():
  from tfmtl.models import layers  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  # Values in {0, 1, 2}: most windows hold ties, which must go to the same
  # (first, row-major) position as MaxPoolWithArgmax's.
  x = tf.constant(rng.integers(0, 3, (2, 8, 6, 3)).astype(np.float32))
  pooled, indices = layers.max_pool_with_argmax(x)
  with layers.convertible():
    pooled_m, mask = layers.max_pool_with_argmax(x)
  assert mask.dtype == tf.float32 and mask.shape == x.shape
  np.testing.assert_array_equal(pooled_m, pooled)
  y = tf.constant(rng.normal(size=pooled.shape).astype(np.float32))
  np.testing.assert_array_equal(layers.unpool(y, mask),
                                layers.unpool(y, indices))



def test_convertible_unpooling_survives_int8():
  """unpool(pool(x)) in full int8 is within the two roundings it has: the
  input's quantisation (½ step) and the output's (½ step, same range), so
  two steps bound it. A 0/1 mask that quantises wrong (LiteRT's int8
  ONE_HOT reads 1/2) puts whole values at the other three positions,
  ~50 steps off."""
  from tfmtl.models import layers  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  data = rng.normal(size=(17, 1, 8, 6, 3)).astype(np.float32)

  @tf.function(input_signature=[tf.TensorSpec([1, 8, 6, 3], tf.float32)])
  def f(x):
    with layers.convertible():
      return {"y": layers.unpool(*layers.max_pool_with_argmax(x))}

  converter = tf.lite.TFLiteConverter.from_concrete_functions(
      [f.get_concrete_function()], f)
  converter.optimizations = [tf.lite.Optimize.DEFAULT]
  converter.representative_dataset = lambda: ([x] for x in data[:16])
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
  interpreter = tf.lite.Interpreter(model_content=converter.convert())
  ops = {op["op_name"] for op in interpreter._get_ops_details()}  # pylint: disable=protected-access
  assert not ops & {"ONE_HOT", "CAST"}, ops  # the mask stays int8
  interpreter.allocate_tensors()
  x = data[16]
  interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
  interpreter.invoke()
  got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
  step = (data[:16].max() - data[:16].min()) / 255
  assert np.abs(got - f(x)["y"].numpy()).max() <= 2 * step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _cli(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  return subprocess.run([sys.executable, *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600,
                        check=False)


def test_eval_exports_tflite_and_scores_it_with_the_same_table(tmp_path):
  wd, e = str(tmp_path / "wd"), str(tmp_path / "export")
  config = "--config=configs/toy_two_task.py:runlocal"
  proc = _cli("train.py", config, f"--workdir={wd}", "--config.steps=5")
  assert proc.returncode == 0, proc.stderr[-2000:]
  onnx = __import__("importlib").util.find_spec("tf2onnx") is not None
  files = ["model.tflite"] + (["model.onnx"] if onnx else [])
  proc = _cli("eval.py", f"--workdir={wd}", f"--export_dir={e}",
              "--export_formats=tflite" + (",onnx" if onnx else ""),
              "--format=json", "--pictures=0")
  assert proc.returncode == 0, proc.stderr[-2000:]
  keras_report = json.loads(proc.stdout)
  assert sorted(os.listdir(e)) == sorted(files)
  for name in files:
    proc = _cli("eval.py", f"--workdir={wd}", f"--model_file={e}/{name}",
                "--format=json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["model_file"].endswith(name)
    # model.tflite and model.onnx write different files
    assert os.path.exists(os.path.join(
        wd, f"results_test_{name.replace('.', '_')}.json"))
    # The same metrics, equal up to the runtime's float32 rounding
    # (relative ~1e-6 of each mean; 1e-4 is the bound).
    assert report["metrics"].keys() == keras_report["metrics"].keys()
    for task, values in keras_report["metrics"].items():
      for k, v in values.items():
        assert report["metrics"][task][k] == pytest.approx(
            v, rel=1e-4, abs=1e-6), (name, task, k)
  proc = _cli("eval.py", f"--workdir={wd}", f"--model_file={e}/model.pb")
  assert proc.returncode == 2 and "must be a .tflite or .onnx" in proc.stderr


def test_onnx_equals_the_serving_outputs(model):
  pytest.importorskip("tf2onnx")
  pytest.importorskip("onnxruntime")
  from tfmtl.export import onnx  # pylint: disable=g-import-not-at-top
  runner = onnx.Runner(onnx.convert(model, SPEC, KINDS))
  assert runner.inputs["image"][1] == np.uint8
  # ONNX Runtime's kernels sum in another order: a few float32 ulps a
  # layer (~1e-6 here); the bound is 1e-4.
  feeds = _check_runner(runner, model)
  with pytest.raises(UserError, match="input 'image' must be uint8"):
    runner(image=feeds["image"].astype(np.float32), flow=feeds["flow"])


def test_convertible_softplus_equals_softplus_over_depths_range():
  from tfmtl.models import layers  # pylint: disable=g-import-not-at-top
  x = tf.constant(np.linspace(-30, 90, 2001, dtype=np.float32))
  want = layers.output_activation(x, "depth", ["depth"], "softplus")
  with layers.convertible():
    got = layers.output_activation(x, "depth", ["depth"], "softplus")
  # log(1 + e) for e = exp(−|x|) ≤ 1 rounds 1 + e: absolute error ≤ 1.2e-7
  # (half an ulp of 1); relu(x) adds x's own rounding, relative 6e-8.
  np.testing.assert_allclose(got, want, rtol=1e-6, atol=2e-7)


class _ArgmaxPool(keras.layers.Layer):
  """A layer LiteRT has no kernel for (MaxPoolWithArgmax outside export
  mode): the conversion must fail naming it."""

  def call(self, x):
    return tf.nn.max_pool_with_argmax(x, 2, 2, "VALID")[0]


def test_a_layer_that_does_not_convert_is_one_line_naming_it(tmp_path):
  image = keras.Input((H, W, 3), name="image")
  pooled = _ArgmaxPool(name="bad_pool")(image)
  model = keras.Model(image, {"pose": keras.layers.Dense(2)(
      keras.layers.Flatten()(pooled))})
  spec = tf.TensorSpec([1, H, W, 3], tf.float32)
  path = str(tmp_path / "e")
  with pytest.raises(UserError) as e:
    formats.export_formats(model, spec, {"pose": "regression"}, path,
                           "saved_model,tflite")
  message = str(e.value)
  assert "\n" not in message
  assert message.startswith("LiteRT float32 conversion failed: layer ")
  assert "bad_pool" in message and "MaxPoolWithArgmax" in message
  assert "nothing was exported" in message
  assert not os.listdir(tmp_path)
