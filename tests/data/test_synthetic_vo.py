"""synthetic_vo: real two-view geometry with exact flow and pose labels."""

import cv2
import numpy as np
import tensorflow as tf

from tfmtl import data
from tfmtl.data import synthetic_vo


def test_flow_label_matches_the_warp():
  """Frame 2 sampled at p + flow shows what frame 1 shows at p."""
  rng = np.random.default_rng(1)
  frames, trans, rot, flow = synthetic_vo.render_pair(
      rng, 48, 96, flow_scale=1.0)
  assert frames.shape == (48, 96, 6) and flow.shape == (24, 48, 2)
  assert trans.shape == (3,) and rot.shape == (3,)
  f1, f2 = frames[..., :3], frames[..., 3:]
  hv, hu = np.mgrid[0:24, 0:48]
  px, py = (2 * hu + 0.5).astype(np.float32), (2 * hv + 0.5).astype(np.float32)
  qx, qy = px + 2 * flow[..., 0], py + 2 * flow[..., 1]
  before = cv2.remap(f1, px, py, cv2.INTER_LINEAR)
  after = cv2.remap(f2, qx, qy, cv2.INTER_LINEAR)
  still = cv2.remap(f2, px, py, cv2.INTER_LINEAR)
  inside = (qx > 1) & (qx < 94) & (qy > 1) & (qy < 46)
  assert np.abs(flow).mean() > 0.5  # the camera really moved
  err = np.abs(before - after)[inside].mean()
  assert err < 0.1 * np.abs(before - still)[inside].mean()


def test_zero_motion_gives_identical_frames_and_zero_flow():
  rng = np.random.default_rng(2)
  frames, trans, rot, flow = synthetic_vo.render_pair(
      rng, 32, 64, max_rot=0.0, max_trans=(0.0, 0.0, 0.0))
  np.testing.assert_allclose(frames[..., :3], frames[..., 3:], atol=1e-5)
  np.testing.assert_allclose(flow, 0.0, atol=1e-6)


def test_source_protocol_and_determinism():
  source = data.get("synthetic_vo", n=20, height=32, width=64, seed=3)
  assert sorted(source.task_names) == ["flow", "rot", "trans"]
  x, y = next(iter(source.dataset("train", 4, shuffle=True, repeat=True)))
  assert x["frames"].shape == (4, 32, 64, 6)
  assert y["trans"].shape == (4, 3) and y["flow"].shape == (4, 16, 32, 2)
  assert 0.0 <= float(tf.reduce_min(x["frames"]))
  assert float(tf.reduce_max(x["frames"])) <= 1.0
  again = synthetic_vo.synthetic_vo(n=20, height=32, width=64, seed=3)
  np.testing.assert_array_equal(source.arrays("val")[1]["rot"],
                                again.arrays("val")[1]["rot"])
