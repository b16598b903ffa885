"""The shared pipeline: joint flip / zoom, eager == tf.data, batching."""

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.data import kitti_odometry as ko
from tfmtl.data import pipeline
from tfmtl.errors import UserError

H, W = 8, 12


def sample(seed=0):
  rng = np.random.default_rng(seed)
  c = lambda *s: tf.constant(rng.uniform(-3, 3, s).astype(np.float32))
  inputs = {"image": c(H, W, 3), "flow": c(H, W, 3)}
  labels = {"semantic": tf.constant(rng.integers(0, 5, (H, W)), tf.int32),
            "depth": c(H, W, 1), "motion": tf.constant(
                rng.integers(0, 2, (H, W)), tf.int32),
            "trans": c(3), "rot": c(3)}
  return inputs, labels


def assert_same(a, b, atol=0.0):
  tf.nest.map_structure(
      lambda x, y: np.testing.assert_allclose(x, y, atol=atol), a, b)


def test_flip_twice_is_identity_and_signs():
  x, y = sample()
  fx, fy = pipeline.flip_left_right(x, y)
  assert_same(pipeline.flip_left_right(fx, fy), (x, y))
  np.testing.assert_array_equal(fx["image"], x["image"][:, ::-1])
  np.testing.assert_array_equal(fx["flow"][..., 0], -x["flow"][:, ::-1, 0])
  np.testing.assert_array_equal(fx["flow"][..., 1:], x["flow"][:, ::-1, 1:])
  np.testing.assert_array_equal(fy["trans"], y["trans"] * [-1, 1, 1])
  np.testing.assert_array_equal(fy["rot"], y["rot"] * [1, -1, -1])


def test_flipped_flow_still_warps():
  """frame2(x + u) = frame1(x) holds after mirroring both frames and flow."""
  rng = np.random.default_rng(0)
  f2 = rng.uniform(size=(H, W)).astype(np.float32)
  shift = 3  # frame1(x) = frame2(x + 3): flow u = +3 everywhere valid
  f1 = np.roll(f2, -shift, axis=1)
  flow = np.zeros((H, W, 2), np.float32)
  flow[..., 0] = shift
  m1, m2 = f1[:, ::-1], f2[:, ::-1]
  fl, _ = pipeline.flip_left_right({"flow": tf.constant(flow)}, {})
  u = fl["flow"].numpy()[..., 0].astype(int)
  cols = np.arange(W)[None] + u
  ok = (cols >= 0) & (cols < W)
  rows = np.broadcast_to(np.arange(H)[:, None], (H, W))
  np.testing.assert_array_equal(m2[rows[ok], cols[ok]], m1[ok])


def test_mirrored_pose_is_the_mirrored_trajectory():
  """Flipping every relative pose = relative poses of M·T·M (M = diag(−1,1,1))."""
  poses, rel = ko.integrate(np.concatenate(
      [np.random.default_rng(2).normal(0, .5, (6, 3)),
       np.random.default_rng(3).normal(0, .3, (6, 3))], -1)), None
  m = np.diag([-1.0, 1.0, 1.0, 1.0])
  t = np.tile(np.eye(4), (len(poses), 1, 1))
  t[:, :3] = poses
  mirrored = (m @ t @ m)[:, :3]
  want = ko.relative_poses(mirrored)
  rel = ko.relative_poses(poses)
  _, fy = pipeline.flip_left_right({}, {"trans": tf.constant(rel[:, :3]),
                                        "rot": tf.constant(rel[:, 3:])})
  np.testing.assert_allclose(fy["trans"], want[:, :3], atol=1e-9)
  np.testing.assert_allclose(fy["rot"], want[:, 3:], atol=1e-9)


def test_zoom_keeps_shapes_and_scales_depth_and_flow():
  x, y = sample()
  x["flow"] = tf.ones([H, W, 3])
  y["depth"] = tf.fill([H, W, 1], 10.0)
  zx, zy = pipeline.scale_crop(x, y, 2.0, tf.constant([0.5, 0.5]))
  assert_same(tf.nest.map_structure(lambda t: t.shape, (zx, zy)),
              tf.nest.map_structure(lambda t: t.shape, (x, y)))
  np.testing.assert_allclose(zy["depth"], 5.0)  # 2× closer
  np.testing.assert_allclose(zx["flow"][..., :2], 2.0)  # 2× longer
  np.testing.assert_allclose(zx["flow"][..., 2], 1.0)  # confidence kept
  assert set(np.unique(zy["semantic"])) <= set(np.unique(y["semantic"]))


@pytest.mark.parametrize("max_scale", [1.0, 1.5])
def test_augment_eager_equals_tf_data(max_scale):
  x, y = sample()
  seeds = [tf.constant([7, i], tf.int64) for i in range(4)]
  eager = [pipeline.augment(x, y, s, max_scale=max_scale) for s in seeds]
  ds = tf.data.Dataset.from_tensor_slices(tf.stack(seeds)).map(
      lambda s: pipeline.augment(x, y, s, max_scale=max_scale))
  for e, g in zip(eager, ds):
    assert_same(e, g, atol=1e-6)
  fn = tf.function(lambda s: pipeline.augment(x, y, s, max_scale=max_scale))
  assert_same(fn(seeds[0]), eager[0], atol=1e-6)


def test_resize_dense_rules():
  flow = tf.ones([H, W, 2])
  out = pipeline.resize_dense(flow, "flow", (H // 2, W * 2))
  np.testing.assert_allclose(out[..., 0], 2.0)  # dx × W'/W
  np.testing.assert_allclose(out[..., 1], 0.5)  # dy × H'/H
  lab = tf.constant(np.arange(H * W).reshape(H, W), tf.int32)
  small = pipeline.resize_dense(lab, "semantic", (H // 2, W // 2))
  assert small.dtype == tf.int32
  assert set(np.unique(small)) <= set(range(H * W))


def test_make_dataset_static_shapes_sharding_and_determinism(mirrored):
  rows = {"v": np.arange(10, dtype=np.float32)}

  def decode(r):
    return {"image": tf.fill([H, W, 3], r["v"])}, {
        "depth": tf.fill([H, W, 1], r["v"])}

  aug = lambda x, y, s: pipeline.augment(x, y, s)
  ds = pipeline.make_dataset(rows, decode, 4, augment_fn=aug, shuffle=True,
                             seed=3, cache=True)
  assert ds.element_spec[0]["image"].shape == (4, H, W, 3)
  assert len(list(ds)) == 2  # 10 examples, drop_remainder
  a = [b[0]["image"].numpy() for b in pipeline.make_dataset(
      rows, decode, 4, augment_fn=aug, shuffle=True, seed=3)]
  b = [b[0]["image"].numpy() for b in pipeline.make_dataset(
      rows, decode, 4, augment_fn=aug, shuffle=True, seed=3)]
  assert_same(a, b)
  dist = mirrored.distribute_datasets_from_function(
      lambda ctx: pipeline.make_dataset(rows, decode, 4, input_context=ctx))
  batch = next(iter(dist))
  parts = mirrored.experimental_local_results(batch[0]["image"])
  firsts = sorted(float(p[0, 0, 0, 0]) for p in parts)
  # One input pipeline feeding 2 replicas: consecutive per-replica batches.
  assert [p.shape[0] for p in parts] == [2, 2] and firsts == [0.0, 2.0]
  ctx = tf.distribute.InputContext(num_input_pipelines=2,
                                   input_pipeline_id=1, num_replicas_in_sync=2)
  shard = next(iter(pipeline.make_dataset(rows, decode, 4, input_context=ctx)))
  np.testing.assert_array_equal(shard[0]["image"][:, 0, 0, 0], [1.0, 3.0])
  with pytest.raises(UserError, match="empty"):
    pipeline.make_dataset({"v": np.zeros([0])}, decode, 2)


def test_png_checks(tmp_path):
  import cv2
  p8, p16 = str(tmp_path / "a.png"), str(tmp_path / "b.png")
  cv2.imwrite(p8, np.zeros((3, 5), np.uint8))
  cv2.imwrite(p16, np.zeros((3, 5), np.uint16))
  assert pipeline.png_info(p8) == (3, 5, 8, 1)
  assert pipeline.check_png(p16, 16) == (3, 5)
  with pytest.raises(UserError, match="a.png: disparity must be a 16-bit"):
    pipeline.check_png(p8, 16, "disparity")
  (tmp_path / "c.png").write_bytes(b"GIF89a" + b"\0" * 40)
  with pytest.raises(UserError, match="c.png: not a PNG"):
    pipeline.png_info(str(tmp_path / "c.png"))
