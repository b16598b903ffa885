"""KITTI odometry metric, pose integration, ATE and RPE."""

import math
import os

import numpy as np
import pytest

from tfmtl.errors import UserError
from tfmtl.metrics import odometry

KITTI_GT = "/work/shared/data/kitti_gt_poses"


def straight(n, step=1.0, yaw_per_frame=0.0):
  """n poses, `step` metres forward (z) per frame, turning yaw each frame."""
  trans = np.tile([0.0, 0.0, step], (n - 1, 1))
  rot = np.tile([0.0, yaw_per_frame, 0.0], (n - 1, 1))
  return odometry.integrate(trans, rot)


def segments(n, step):
  """(first, last) of the devkit's segments on a uniform straight path.

  With d(i) = i * step, the last frame is the first with d > d(first) + L.
  """
  out = []
  for first in range(0, n, 10):
    for length in odometry.LENGTHS:
      last = first + math.floor(length / step) + 1
      if last < n:
        out.append((first, last, length))
  return out


def test_scale_error_gives_its_percentage():
  n = 1000
  gt, pred = straight(n), straight(n, step=1.01)
  t_err, r_err = odometry.kitti_errors(gt, pred)
  # |t(E)| = 0.01 * (d(last) - d(first)), divided by the nominal length.
  want = np.mean([0.01 * (l - f) / length for f, l, length in segments(n, 1)])
  assert t_err == pytest.approx(100 * want, rel=1e-6)
  # segments overshoot L by < 1 m: 1.004 % (0.4 % over 1 %; checked at 5 %)
  assert t_err == pytest.approx(1.0, rel=0.05)
  assert r_err == pytest.approx(0.0, abs=1e-6)


def test_constant_rotational_drift():
  n, yaw = 1000, 1e-4  # rad per frame of 1 m: 0.573 deg / 100 m
  gt = straight(n)
  # Same relative translations, plus a constant yaw per step.
  pred = straight(n, yaw_per_frame=yaw)
  _, r_err = odometry.kitti_errors(gt, pred)
  want = np.mean([yaw * (l - f) / length for f, l, length in segments(n, 1)])
  assert r_err == pytest.approx(math.degrees(want) * 100, rel=1e-6)
  # ≈ the yaw per 100 m (0.44 % over it, as the segments overshoot); 5 %
  assert r_err == pytest.approx(math.degrees(yaw) * 100, rel=0.05)


def test_accepts_rows_and_pools_sequences():
  gt, pred = straight(300), straight(300, step=1.02)
  rows_gt = gt[:, :3, :].reshape(-1, 12)
  rows_pred = pred[:, :3, :].reshape(-1, 12)
  one = odometry.kitti_errors(rows_gt, rows_pred)
  assert one == pytest.approx(odometry.kitti_errors(gt, pred))
  # Pooling: mean over all segments of both sequences.
  gt2, pred2 = straight(200), straight(200, step=1.05)
  e1 = odometry.segment_errors(gt, pred)
  e2 = odometry.segment_errors(gt2, pred2)
  pooled = odometry.kitti_errors([gt, gt2], [pred, pred2])
  want = np.concatenate([e1, e2])[:, 2].mean() * 100
  assert pooled[0] == pytest.approx(want)


def test_short_sequence_is_nan_and_bad_shapes_raise():
  assert all(map(math.isnan, odometry.kitti_errors(straight(50),
                                                   straight(50))))
  with pytest.raises(UserError, match="N x 12"):
    odometry.kitti_errors(np.zeros((5, 7)), np.zeros((5, 7)))
  with pytest.raises(UserError, match="ground-truth"):
    odometry.kitti_errors(straight(5), straight(6))


def test_euler_round_trip_and_convention():
  rot = np.array([[0.1, -0.2, 0.3], [-1.0, 0.5, 2.0]])
  r = odometry.matrix_from_euler(rot)
  np.testing.assert_allclose(odometry.euler_from_matrix(r), rot, atol=1e-12)
  # R = Rz Ry Rx: a pure rz turns x towards y.
  np.testing.assert_allclose(
      odometry.matrix_from_euler(np.array([0, 0, math.pi / 2])) @ [1, 0, 0],
      [0, 1, 0],
      atol=1e-12)


def test_relative_then_integrate_is_identity():
  rng = np.random.default_rng(0)
  trans = rng.normal(size=(20, 3))
  rot = rng.uniform(-0.3, 0.3, size=(20, 3))
  poses = odometry.integrate(trans, rot)
  t2, r2 = odometry.relative_poses(poses)
  np.testing.assert_allclose(t2, trans, atol=1e-10)
  np.testing.assert_allclose(r2, rot, atol=1e-10)


def test_ate_alignment_and_rpe():
  rng = np.random.default_rng(1)
  gt = odometry.integrate(rng.normal(size=(30, 3)),
                          rng.uniform(-0.2, 0.2, (30, 3)))
  assert odometry.ate(gt, gt) == 0.0
  # A rigidly moved, scaled copy: sim3 alignment removes it, se3 does not.
  moved = gt.copy()
  r = odometry.matrix_from_euler(np.array([0.3, -0.2, 0.1]))
  moved[:, :3, 3] = 2.0 * gt[:, :3, 3] @ r.T + [1.0, 2.0, 3.0]
  assert odometry.ate(gt, moved, align="sim3") == pytest.approx(0, abs=1e-9)
  assert odometry.ate(gt, moved, align="se3") > 0.1
  shifted = gt.copy()
  shifted[:, :3, 3] += [3.0, 4.0, 0.0]
  assert odometry.ate(gt, shifted) == pytest.approx(5.0)
  # RPE: a 1 m extra forward step per frame on a straight path.
  t, rdeg = odometry.rpe(straight(10), straight(10, step=2.0))
  assert t == pytest.approx(1.0) and rdeg == pytest.approx(0.0, abs=1e-6)
  with pytest.raises(UserError, match="align"):
    odometry.ate(gt, gt, align="affine")


@pytest.mark.skipif(not os.path.isdir(KITTI_GT),
                    reason=f"real KITTI poses not present at {KITTI_GT}")
def test_real_kitti_ground_truth():
  gt = np.loadtxt(os.path.join(KITTI_GT, "04.txt"))
  assert odometry.kitti_errors(gt, gt) == pytest.approx((0.0, 0.0), abs=1e-4)
  # Scaling the whole trajectory by 1.03 scales every relative translation,
  # so |t(E)| = .03 * |chord| of each segment, divided by the nominal L
  # (sequence 04 is nearly straight, so t_err is close to 3 %).
  scaled = odometry.as_matrices(gt)
  scaled[:, :3, 3] *= 1.03
  t_err, r_err = odometry.kitti_errors(gt, scaled)
  g = odometry.as_matrices(gt)
  seg = odometry.segment_errors(gt, scaled)
  chords = [np.linalg.norm((np.linalg.inv(g[int(f)]) @ g[int(l)])[:3, 3])
            for f, l in zip(seg[:, 0], _last_frames(gt, seg))]
  assert t_err == pytest.approx(100 * np.mean(0.03 * np.array(chords)
                                              / seg[:, 3]), rel=1e-6)
  assert 2.9 < t_err < 3.2 and r_err == pytest.approx(0.0, abs=1e-4)


def _last_frames(gt, seg):
  dist = odometry.trajectory_distances(gt)
  return [int(np.argmax(dist > np.float32(dist[int(f)] + np.float32(L))))
          for f, L in zip(seg[:, 0], seg[:, 3])]
