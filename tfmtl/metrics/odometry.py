"""Visual odometry: pose integration and the KITTI odometry metrics.

Pose conventions (KITTI poses/NN.txt): pose i is the 3x4 matrix [R | t] that
maps camera-i coordinates into camera-0 coordinates (x right, y down,
z forward); N x 12 rows or N x 3 x 4 (or N x 4 x 4) arrays are accepted.

Relative poses: T_rel_i = inv(T_i) T_{i+1} (frame i+1 in frame i), as
(trans, rot) with trans = t(T_rel_i) in metres and rot = (rx, ry, rz) Euler
angles in radians with R = Rz(rz) Ry(ry) Rx(rx) (rotate about x, then y, then
z, fixed axes), the convention of the training labels
(`tfmtl.data.kitti_odometry`, whose functions these wrap). `integrate`
inverts this: T_0 = I, T_{i+1} = T_i T_rel_i.

KITTI metric (Geiger et al., CVPR 2012; devkit `evaluate_odometry.cpp`): for
first frames f = 0, 10, 20, ... and lengths L = 100, 200, ..., 800 m, the last
frame l is the first with d(l) > d(f) + L, d being the ground-truth path
length (accumulated in float32 as the devkit does); segments running past the
end are skipped. With E = inv(inv(Q_f) Q_l) (inv(P_f) P_l) (Q predicted,
P true), the segment errors are |t(E)| / L and
arccos(clip((tr R(E) - 1)/2, -1, 1)) / L, and the reported numbers are their
plain means over all segments of all sequences:
t_err x 100 (%) and r_err x 180/pi x 100 (deg / 100 m).
Two consequences worth knowing: L is the nominal length, while the segment
really spans d(l) - d(f) > L, so a uniform 1 % scale error on a straight
path gives slightly more than 1 % (1.004 % on 1000 frames of 1 m); and
|t(E)| of a pure scale error is that error times the segment's chord, not
its path length, so on a winding sequence it reads lower (a 1 % scale
error gives 0.58 % on the real sequence 05).
"""

import numpy as np

from tfmtl.data import kitti_odometry
# Re-exported: the label convention's Euler <-> matrix maps.
from tfmtl.data.kitti_odometry import (euler_from_matrix,  # noqa: F401
                                       matrix_from_euler)
from tfmtl.errors import UserError

LENGTHS = (100, 200, 300, 400, 500, 600, 700, 800)
STEP_SIZE = 10  # first frames every 10 frames = every second at 10 Hz

HIGHER_IS_BETTER = {"t_err": False, "r_err": False, "ate": False,
                    "rpe_trans": False, "rpe_rot": False}


def as_matrices(poses):
  """N x 4 x 4 float64 homogeneous poses from N x 12, N x 3 x 4 or N x 4 x 4."""
  p = np.asarray(poses, np.float64)
  if p.ndim == 2 and p.shape[1] == 12:
    p = p.reshape(-1, 3, 4)
  if p.ndim != 3 or p.shape[1:] not in ((3, 4), (4, 4)):
    raise UserError(
        f"poses of shape {p.shape}: give N x 12 rows (as KITTI poses/NN.txt),"
        " N x 3 x 4 or N x 4 x 4 matrices")
  if p.shape[1] == 3:
    bottom = np.broadcast_to([0.0, 0.0, 0.0, 1.0], (len(p), 1, 4))
    p = np.concatenate([p, bottom], axis=1)
  return p


def relative_poses(poses):
  """Absolute poses -> (trans [N-1, 3], rot [N-1, 3]) between frames.

  Delegates to `tfmtl.data.kitti_odometry.relative_poses`, which makes the
  training labels, so metrics and labels share one convention.
  """
  rel = kitti_odometry.relative_poses(as_matrices(poses)[:, :3, :])
  return rel[:, :3], rel[:, 3:]


def integrate(trans, rot, start=None):
  """Relative (trans, rot) -> absolute N+1 x 4 x 4 poses, T_0 = start or I.

  Delegates to `tfmtl.data.kitti_odometry.integrate` (T_{i+1} = T_i T_rel_i).

  Args:
    trans: [N, 3] translations of frame i+1 in frame i (metres; undo the
      label scaling first, `kitti_odometry` `label_scale`).
    rot: [N, 3] Euler angles (rx, ry, rz), radians, R = Rz Ry Rx.
    start: optional 3x4 / 4x4 pose of the first frame.
  """
  trans = np.asarray(trans, np.float64).reshape(-1, 3)
  rot = np.asarray(rot, np.float64).reshape(-1, 3)
  if len(trans) != len(rot):
    raise UserError(f"integrate: {len(trans)} translations but {len(rot)} "
                    "rotations; give one (trans, rot) pair per frame step")
  if start is not None:
    start = as_matrices(np.asarray(start, np.float64)[None])[:, :3, :]
  return as_matrices(kitti_odometry.integrate(
      np.concatenate([trans, rot], -1), start))


def trajectory_distances(poses):
  """Path length d(i) from frame 0, float32 exactly as the devkit sums it."""
  t = as_matrices(poses)[:, :3, 3]
  d = (t[:-1] - t[1:]).astype(np.float32)
  step = np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] + d[:, 2] * d[:, 2])
  return np.concatenate([[np.float32(0)],
                         np.cumsum(step, dtype=np.float32)]).astype(np.float32)


def segment_errors(gt_poses, pred_poses, lengths=LENGTHS,
                   step_size=STEP_SIZE):
  """The devkit's per-segment errors of one sequence.

  Returns:
    float64 [S, 5] rows (first_frame, r_err rad/m, t_err m/m, length,
    speed m/s at 10 Hz), in the devkit's order (first frame, then length).
  """
  gt, pred = as_matrices(gt_poses), as_matrices(pred_poses)
  if len(gt) != len(pred) or not len(gt):
    raise UserError(f"kitti errors: {len(pred)} predicted poses for "
                    f"{len(gt)} ground-truth poses; give one per frame")
  dist = trajectory_distances(gt)
  rows = []
  for first in range(0, len(gt), step_size):
    for length in lengths:
      target = np.float32(dist[first] + np.float32(length))
      last = int(np.searchsorted(dist, target, side="right"))
      if last >= len(gt):
        continue
      delta_gt = np.linalg.inv(gt[first]) @ gt[last]
      delta_pred = np.linalg.inv(pred[first]) @ pred[last]
      err = np.linalg.inv(delta_pred) @ delta_gt
      cos = 0.5 * (np.trace(err[:3, :3]) - 1.0)
      r_err = np.arccos(np.clip(cos, -1.0, 1.0))
      t_err = np.linalg.norm(err[:3, 3])
      speed = length / (0.1 * (last - first + 1))
      rows.append((first, r_err / length, t_err / length, length, speed))
  return np.asarray(rows, np.float64).reshape(-1, 5)


def _sequences(poses):
  """A list of sequences, whether given one array or a list of them."""
  if isinstance(poses, (list, tuple)) and poses and np.ndim(poses[0]) >= 2:
    return list(poses)
  return [poses]


def kitti_errors(gt_poses, pred_poses):
  """KITTI odometry errors (t_err %, r_err deg/100 m), devkit definition.

  Args:
    gt_poses: one sequence's true poses (N x 12, N x 3 x 4, N x 4 x 4), or a
      list of sequences; segments of all sequences are pooled, as the
      devkit's stats.txt pools every evaluated sequence.
    pred_poses: predicted poses, same structure and lengths.

  Returns:
    (t_err in %, r_err in deg per 100 m); NaN if no sequence is 100 m long.
  """
  gts, preds = _sequences(gt_poses), _sequences(pred_poses)
  if len(gts) != len(preds):
    raise UserError(f"kitti errors: {len(preds)} predicted sequences for "
                    f"{len(gts)} ground-truth sequences")
  err = np.concatenate([segment_errors(g, p) for g, p in zip(gts, preds)])
  if not len(err):
    return float("nan"), float("nan")
  return (float(err[:, 2].mean() * 100),
          float(np.degrees(err[:, 1].mean()) * 100))


def umeyama(src, dst, with_scale):
  """(s, R, t) minimising sum |dst - (s R src + t)|^2 (Umeyama, PAMI 1991)."""
  mu_s, mu_d = src.mean(0), dst.mean(0)
  xs, xd = src - mu_s, dst - mu_d
  cov = xd.T @ xs / len(src)
  u, d, vt = np.linalg.svd(cov)
  sign = np.eye(3)
  if np.linalg.det(u) * np.linalg.det(vt) < 0:
    sign[2, 2] = -1
  r = u @ sign @ vt
  var = np.mean(np.sum(xs**2, 1))
  s = np.trace(np.diag(d) @ sign) / var if with_scale and var > 0 else 1.0
  return s, r, mu_d - s * r @ mu_s


def ate(gt_poses, pred_poses, align=None):
  """Absolute trajectory error: RMSE of camera positions, metres.

  ATE = sqrt(1/N sum_i |p_i - (s R q_i + t)|^2) with p true and q predicted
  positions (Sturm et al., IROS 2012). `align` picks (s, R, t):
  None -> identity (both trajectories start at the same pose, as integrated
  predictions do); "se3" -> least-squares rotation + translation; "sim3" ->
  rotation, translation and scale (Umeyama 1991; for scale-free monocular
  predictions).
  """
  p = as_matrices(gt_poses)[:, :3, 3]
  q = as_matrices(pred_poses)[:, :3, 3]
  if len(p) != len(q):
    raise UserError(f"ate: {len(q)} predicted poses for {len(p)} true poses")
  if align not in (None, "se3", "sim3"):
    raise UserError(f"ate: align={align!r}; use None, 'se3' or 'sim3'")
  if align is not None:
    s, r, t = umeyama(q, p, with_scale=align == "sim3")
    q = s * q @ r.T + t
  return float(np.sqrt(np.mean(np.sum((p - q)**2, 1))))


def rpe(gt_poses, pred_poses, delta=1):
  """Relative pose error over `delta` frames (Sturm et al., IROS 2012).

  E_i = inv(inv(P_i) P_{i+delta}) (inv(Q_i) Q_{i+delta}) for every i.

  Returns:
    (translational RMSE of |t(E_i)| in metres, rotational RMSE of the angle
    of R(E_i) in degrees).
  """
  gt, pred = as_matrices(gt_poses), as_matrices(pred_poses)
  if len(gt) != len(pred) or len(gt) <= delta:
    raise UserError(f"rpe: need equal-length trajectories longer than "
                    f"delta={delta}; got {len(gt)} and {len(pred)} poses")
  rel_gt = np.linalg.inv(gt[:-delta]) @ gt[delta:]
  rel_pred = np.linalg.inv(pred[:-delta]) @ pred[delta:]
  err = np.linalg.inv(rel_gt) @ rel_pred
  trans = np.linalg.norm(err[:, :3, 3], axis=1)
  cos = 0.5 * (np.trace(err[:, :3, :3], axis1=1, axis2=2) - 1.0)
  angle = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
  return (float(np.sqrt(np.mean(trans**2))),
          float(np.sqrt(np.mean(angle**2))))


def odometry_metrics(gt_poses, pred_poses, ate_align=None):
  """{"t_err", "r_err", "ate", "rpe_trans", "rpe_rot"} of one sequence."""
  t_err, r_err = kitti_errors(gt_poses, pred_poses)
  rpe_t, rpe_r = rpe(gt_poses, pred_poses)
  return {"t_err": t_err, "r_err": r_err,
          "ate": ate(gt_poses, pred_poses, ate_align),
          "rpe_trans": rpe_t, "rpe_rot": rpe_r}
