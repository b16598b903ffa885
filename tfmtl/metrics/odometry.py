"""Visual odometry: pose integration and the KITTI odometry metrics.

Pose conventions (KITTI poses/NN.txt): pose i is the 3x4 matrix [R | t] that
maps camera-i coordinates into camera-0 coordinates (x right, y down,
z forward); N x 12 rows or N x 3 x 4 (or N x 4 x 4) arrays are accepted.

Relative poses: T_rel_i = inv(T_i) T_{i+1} (frame i+1 in frame i), as
(trans, rot) with trans = t(T_rel_i) in metres and rot = (rx, ry, rz) Euler
angles in radians with R = Rz(rz) Ry(ry) Rx(rx) (rotate about x, then y, then
z, fixed axes). `integrate` inverts this: T_0 = I, T_{i+1} = T_i T_rel_i.

KITTI metric (Geiger et al., CVPR 2012; devkit `evaluate_odometry.cpp`): for
first frames f = 0, 10, 20, ... and lengths L = 100, 200, ..., 800 m, the last
frame l is the first with d(l) > d(f) + L, d being the ground-truth path
length (accumulated in float32 as the devkit does); segments running past the
end are skipped. With E = inv(inv(Q_f) Q_l) (inv(P_f) P_l) (Q predicted,
P true), the segment errors are |t(E)| / L and
arccos(clip((tr R(E) - 1)/2, -1, 1)) / L, and the reported numbers are their
plain means over all segments of all sequences:
t_err x 100 (%) and r_err x 180/pi x 100 (deg / 100 m).
"""

import numpy as np

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


def euler_to_matrix(rot):
  """[..., 3] angles (rx, ry, rz) -> [..., 3, 3] R = Rz(rz) Ry(ry) Rx(rx)."""
  rot = np.asarray(rot, np.float64)
  cx, cy, cz = np.cos(rot[..., 0]), np.cos(rot[..., 1]), np.cos(rot[..., 2])
  sx, sy, sz = np.sin(rot[..., 0]), np.sin(rot[..., 1]), np.sin(rot[..., 2])
  return np.stack([
      np.stack([cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx], -1),
      np.stack([sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx], -1),
      np.stack([-sy, cy * sx, cy * cx], -1),
  ], -2)


def matrix_to_euler(r):
  """[..., 3, 3] rotations -> [..., 3] (rx, ry, rz), inverse of the above.

  ry is in [-pi/2, pi/2]; at ry = +-pi/2 (gimbal lock) rx absorbs rz.
  """
  r = np.asarray(r, np.float64)
  rx = np.arctan2(r[..., 2, 1], r[..., 2, 2])
  ry = np.arctan2(-r[..., 2, 0], np.hypot(r[..., 2, 1], r[..., 2, 2]))
  rz = np.arctan2(r[..., 1, 0], r[..., 0, 0])
  return np.stack([rx, ry, rz], -1)


def relative_poses(poses):
  """Absolute poses -> (trans [N-1, 3], rot [N-1, 3]) between frames."""
  p = as_matrices(poses)
  rel = np.linalg.inv(p[:-1]) @ p[1:]
  return rel[:, :3, 3], matrix_to_euler(rel[:, :3, :3])


def integrate(trans, rot, start=None):
  """Relative (trans, rot) -> absolute N+1 x 4 x 4 poses, T_0 = start or I.

  Args:
    trans: [N, 3] translations of frame i+1 in frame i (metres; undo any
      label scaling first).
    rot: [N, 3] Euler angles (rx, ry, rz), radians, R = Rz Ry Rx.
    start: optional 3x4 / 4x4 pose of the first frame.
  """
  trans = np.asarray(trans, np.float64).reshape(-1, 3)
  rot = np.asarray(rot, np.float64).reshape(-1, 3)
  if len(trans) != len(rot):
    raise UserError(f"integrate: {len(trans)} translations but {len(rot)} "
                    "rotations; give one (trans, rot) pair per frame step")
  rel = np.tile(np.eye(4), (len(trans), 1, 1))
  rel[:, :3, :3] = euler_to_matrix(rot)
  rel[:, :3, 3] = trans
  out = np.empty((len(trans) + 1, 4, 4))
  out[0] = np.eye(4) if start is None else as_matrices(
      np.asarray(start)[None])[0]
  for i, t in enumerate(rel):  # sequential by nature: T_{i+1} = T_i T_rel_i
    out[i + 1] = out[i] @ t
  return out


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
