"""Scenes in memory: the exact ground truth checked against the geometry."""

import cv2
import numpy as np
import pytest

from tfmtl.data import scenes
from tfmtl.data.scenes import geometry
from tfmtl.errors import UserError

H, W = 48, 96
VALID_IDS = set(scenes.LABEL_IDS.values())


@pytest.fixture(scope="module")
def samples():
  return [scenes.generate_sample(s, H, W) for s in range(3)]


def _warp(image, flow):
  """Samples `image` at x + flow (bilinear): the backward warp."""
  h, w = flow.shape[:2]
  xs, ys = np.meshgrid(np.arange(w, dtype=np.float32),
                       np.arange(h, dtype=np.float32))
  return cv2.remap(image.astype(np.float32), xs + flow[..., 0],
                   ys + flow[..., 1], cv2.INTER_LINEAR)


def test_same_seed_same_sample_and_different_seed_differs():
  a = scenes.generate_sample(7, H, W)
  b = scenes.generate_sample(7, H, W)
  c = scenes.generate_sample(8, H, W)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k])
  assert not np.array_equal(a["image1"], c["image1"])


def test_labels_are_cityscapes_ids_and_sky_has_no_depth(samples):
  for s in samples:
    assert set(np.unique(s["semantic"])) <= VALID_IDS
    sky = s["semantic"] == scenes.LABEL_IDS["sky"]
    assert sky.any() and (s["semantic"] == scenes.LABEL_IDS["road"]).any()
    np.testing.assert_array_equal(s["depth"] == 0, sky)
    np.testing.assert_array_equal(s["disparity"] == 0, sky)


def test_disparity_is_baseline_times_focal_over_depth(samples):
  for s in samples:
    hit = s["depth"] > 0
    f = s["intrinsics"][0, 0]
    np.testing.assert_allclose(s["disparity"][hit] * s["depth"][hit],
                               s["baseline"] * f, rtol=1e-5)


def test_ground_pixels_back_project_onto_the_ground_plane(samples):
  # Road and sidewalk pixels, lifted to 3-D with their depth, lie on one
  # plane whose distance from the camera is the camera height.
  for s in samples:
    k = s["intrinsics"]
    flat = np.isin(s["semantic"], [7, 8])
    v, u = np.nonzero(flat)
    z = s["depth"][flat].astype(float)
    x = np.stack([(u - k[0, 2]) / k[0, 0] * z, (v - k[1, 2]) / k[1, 1] * z,
                  z], -1)
    n, *_ = np.linalg.lstsq(x, np.ones(len(x)), rcond=None)
    np.testing.assert_allclose(1 / np.linalg.norm(n), s["camera_height"],
                               rtol=1e-4)
    np.testing.assert_allclose(x @ n, 1.0, atol=1e-4)


def _points(s):
  """Camera-frame 3-D points of every pixel from the depth map."""
  k = s["intrinsics"]
  v, u = np.mgrid[:s["depth"].shape[0], :s["depth"].shape[1]]
  z = s["depth"].astype(float)
  return np.stack([(u - k[0, 2]) / k[0, 0] * z,
                   (v - k[1, 2]) / k[1, 1] * z, z], -1)


def test_normals_are_unit_face_the_camera_and_are_zero_on_sky(samples):
  for s in samples:
    n, hit = s["normal"].astype(float), s["depth"] > 0
    np.testing.assert_allclose(np.linalg.norm(n[hit], axis=-1), 1.0,
                               atol=1e-6)
    assert not np.any(n[~hit])
    # A visible surface faces the camera: n · (point − camera) < 0, up to
    # float32 rounding at grazing silhouette pixels.
    p = _points(s)
    cos = np.sum(n * p, -1)[hit] / np.linalg.norm(p[hit], axis=-1)
    assert np.all(cos < 0.01) and np.mean(cos < 0) > 0.999


def test_ground_normal_is_the_back_projected_plane_normal(samples):
  for s in samples:
    flat = np.isin(s["semantic"], [7, 8])
    x = _points(s)[flat]
    plane, *_ = np.linalg.lstsq(x, np.ones(len(x)), rcond=None)
    # n·x = 1 points away from the camera; the outward normal is −n/|n|.
    np.testing.assert_allclose(s["normal"][flat],
                               np.broadcast_to(-plane / np.linalg.norm(plane),
                                               x.shape), atol=1e-4)


def test_normals_are_the_normals_of_the_depth_maps_surfaces(samples):
  # Where a 3×3 patch has one class and one normal and its 9 back-projected
  # points are coplanar (one face of one object), the plane fitted to them
  # is the given normal's plane.
  checked = 0
  for s in samples:
    p, n, sem = _points(s), s["normal"].astype(float), s["semantic"]
    h, w = sem.shape
    patch = lambda a: np.stack([a[i:h - 2 + i, j:w - 2 + j]  # noqa: E731
                                for i in range(3) for j in range(3)], 2)
    pts, nrm, cls = patch(p), patch(n), patch(sem)
    centre = nrm[:, :, 4]
    same = (np.all(cls == cls[:, :, 4:5], -1) &
            np.all(nrm == centre[:, :, None], (-1, -2)) &
            (s["depth"][1:-1, 1:-1] > 0))
    x = pts[same] - pts[same].mean(1, keepdims=True)
    _, sv, vt = np.linalg.svd(x)
    planar = sv[:, 2] < 1e-4 * sv[:, 0]
    fitted = vt[planar, 2]
    cos = np.abs(np.sum(fitted * centre[same][planar], -1))
    np.testing.assert_allclose(cos, 1.0, atol=1e-4)
    checked += planar.sum()
  assert checked > 1000


def test_flow_matches_the_warp_between_frames():
  # 96×192: at tinier sizes bilinear resampling of edges dominates.
  for seed in range(3):
    s = scenes.generate_sample(seed, 2 * H, 2 * W)
    f1 = s["image1"].astype(np.float32)
    warped = _warp(s["image2"], s["flow"])
    v = s["flow_valid"].copy()
    # Bilinear sampling needs the 2×2 neighbours inside the image.
    v[:, -1] = v[-1, :] = False
    assert v.mean() > 0.5
    err_warped = np.abs(warped - f1)[v].mean()
    err_plain = np.abs(s["image2"].astype(np.float32) - f1)[v].mean()
    assert err_warped < 0.35 * err_plain, (err_warped, err_plain)
    assert np.median(np.abs(warped - f1)[v]) < 1.5  # Grey levels.


def test_motion_mask_marks_exactly_the_moving_objects():
  for seed in range(12):
    s = scenes.generate_sample(seed, H, W)
    # Independent motion = flow that the ego-motion alone can't explain:
    # rebuild the ego-only flow from depth and pose and compare.
    k, t = s["intrinsics"], np.linalg.inv(s["pose"])
    hit = s["depth"] > 0
    v, u = np.nonzero(hit)
    z = s["depth"][hit]
    x = np.stack([(u - k[0, 2]) / k[0, 0] * z, (v - k[1, 2]) / k[1, 1] * z,
                  z], -1)
    x2 = x @ t[:3, :3].T + t[:3, 3]
    u2 = k[0, 0] * x2[:, 0] / x2[:, 2] + k[0, 2]
    v2 = k[1, 1] * x2[:, 1] / x2[:, 2] + k[1, 2]
    ego = np.stack([u2 - u, v2 - v], -1)
    resid = np.linalg.norm(s["flow"][hit] - ego, axis=-1)
    moving = s["motion"][hit] == 1
    assert np.all(resid[~moving] < 1e-2), resid[~moving].max()
    if moving.any():
      assert set(np.unique(s["semantic"][s["motion"] == 1])) <= {24, 26}
      # Almost every moving pixel moves visibly (walkers can be slow).
      assert np.mean(resid[moving] > 1e-2) > 0.9


def test_pose_is_a_rigid_motion_with_euler_angles(samples):
  for s in samples:
    r = s["pose"][:3, :3]
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-9)
    rx, ry, rz = s["rot"]
    rebuilt = geometry.rot_z(rz) @ geometry.rot_y(ry) @ geometry.rot_x(rx)
    np.testing.assert_allclose(rebuilt, r, atol=1e-9)
    # Frame 2 is the previous frame: the camera was behind (z < 0).
    assert s["trans"][2] < -0.3


def test_sequence_flow_matches_the_warp():
  frames = list(scenes.generate_sequence(5, 3, 2 * H, 2 * W))
  assert frames[-1]["flow"] is None
  for a, b in zip(frames[:-1], frames[1:]):
    v = a["flow_valid"].copy()
    v[:, -1] = v[-1, :] = False
    warped = _warp(b["image"], a["flow"])
    f1 = a["image"].astype(np.float32)
    assert (np.abs(warped - f1)[v].mean() <
            0.35 * np.abs(b["image"].astype(np.float32) - f1)[v].mean())


def test_focal_scale_zooms_the_same_scene():
  # Odd sizes put the principal point on a pixel: with a focal length twice
  # as long, pixel (v0 + 2j, u0 + 2k) sees along the ray of (v0 + j, u0 + k)
  # of the unzoomed camera, so it hits the same point at the same depth.
  a = scenes.generate_sample(5, 25, 49)
  b = scenes.generate_sample(5, 25, 49, focal_scale=2.0)
  np.testing.assert_allclose(b["intrinsics"][0, 0],
                             2 * a["intrinsics"][0, 0])
  # v0 = 12, u0 = 24: every other pixel of b is the central half of a.
  for key in ("depth", "semantic"):
    np.testing.assert_allclose(b[key][::2, ::2], a[key][6:19, 12:37],
                               rtol=1e-5)


def test_too_small_an_image_is_a_user_error():
  with pytest.raises(UserError, match="too small"):
    scenes.generate_sample(0, 4, 4)
