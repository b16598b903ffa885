"""The camera, its drive and the pose conventions of the procedural scenes.

KITTI camera convention: x right, y down, z forward. The world frame has the
street along +z, its centre line at x = 0 and the ground at y = h (camera
height); objects translate (never rotate) at constant velocity, so a point
P on object o at time τ is P₀ + v_o·τ. A pixel (u, v) casts the ray
X(t) = c + t·R·((u − u₀)/f, (v − v₀)/f, 1) from the camera centre c with
camera-to-world rotation R, so the hit parameter t is the camera depth Z.
Ground truth of frame 1 at time τ₁ against frame 2 at τ₂:

- depth Z (0 on sky), disparity d = B·f/Z (B the stereo baseline);
- surface normals: the exact outward unit normal of the hit primitive (the
  ground plane, a box face, a cylinder's side or cap) in the camera frame,
  n_cam = Rᵀ n_world, 0 on sky;
- semantic Cityscapes label ids (`street.LABEL_IDS`); the motion mask:
  pixels of objects with v_o ≠ 0 (independently moving, whatever the
  ego-motion);
- optical flow frame1 → frame2: with P₂ = P₁ + v_o·(τ₂ − τ₁) and
  X₂ = R₂ᵀ(P₂ − c₂), flow = π(X₂) − (u, v), π(X) = (f·X/Z + u₀, f·Y/Z + v₀);
  sky points lie at infinity, X₂ = R₂ᵀ·ray. `flow_valid` is False where the
  point leaves the view or is hidden in frame 2 (back-facing, or frame 2
  shows another primitive at the nearest pixel);
- the pose of camera 2 in camera 1: T = T₁⁻¹T₂ (4×4), trans = its
  translation, rot = Euler angles (rx, ry, rz) with R = Rz(rz)·Ry(ry)·Rx(rx).

Intrinsics scale Cityscapes' (fx ≈ 2262.5 px at 2048 px width): f = 1.1047·W,
u₀ = (W − 1)/2, v₀ = (H − 1)/2, baseline B = 0.209313 m.
"""

import numpy as np

BASELINE = 0.209313  # Cityscapes stereo baseline, metres.
FOCAL_PER_WIDTH = 2262.52 / 2048  # Cityscapes fx over image width.
NEAR = 0.05  # Closest camera depth a ray may hit.


def rot_x(a):
  c, s = np.cos(a), np.sin(a)
  return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(a):
  c, s = np.cos(a), np.sin(a)
  return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_z(a):
  c, s = np.cos(a), np.sin(a)
  return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def euler_from_matrix(r: np.ndarray) -> np.ndarray:
  """(rx, ry, rz) with R = Rz(rz)·Ry(ry)·Rx(rx); |ry| < π/2 assumed."""
  return np.array([np.arctan2(r[2, 1], r[2, 2]),
                   np.arcsin(-np.clip(r[2, 0], -1, 1)),
                   np.arctan2(r[1, 0], r[0, 0])])


def relative_pose(pose1, pose2):
  """T₁⁻¹T₂ (4×4): camera 2 in camera 1, from (R, c) camera-to-world."""
  r1, c1 = pose1
  r2, c2 = pose2
  t = np.eye(4)
  t[:3, :3] = r1.T @ r2
  t[:3, 3] = r1.T @ (c2 - c1)
  return t


class Trajectory:
  """Camera pose as a smooth function of time τ (frames): weaving in the
  ego lane, heading along the velocity, slight pitch / roll oscillation."""

  def __init__(self, rng, tau0):
    self.speed = rng.uniform(0.5, 1.4)
    self.tau0 = tau0
    self.ax, self.wx, self.px = (rng.uniform(0, 0.3), rng.uniform(0.03, 0.1),
                                 rng.uniform(0, 2 * np.pi))
    self.az, self.wz = rng.uniform(0, 0.1), rng.uniform(0.1, 0.4)
    self.pitch = (rng.uniform(0, 0.01), rng.uniform(0.2, 0.8),
                  rng.uniform(0, 2 * np.pi))
    self.roll = (rng.uniform(0, 0.008), rng.uniform(0.2, 0.8),
                 rng.uniform(0, 2 * np.pi))

  def __call__(self, tau):
    t = tau + self.tau0
    x = 1.75 + self.ax * np.sin(self.wx * t + self.px)
    z = self.speed * tau + self.az * np.sin(self.wz * t)
    vx = self.ax * self.wx * np.cos(self.wx * t + self.px)
    vz = self.speed + self.az * self.wz * np.cos(self.wz * t)
    yaw = np.arctan2(vx, vz)
    a, w, p = self.pitch
    pitch = a * np.sin(w * t + p)
    a, w, p = self.roll
    roll = a * np.sin(w * t + p)
    r = rot_y(yaw) @ rot_x(pitch) @ rot_z(roll)
    return r, np.array([x, 0.0, z])


class Camera:
  """A pinhole camera with Cityscapes' intrinsics scaled to the image."""

  def __init__(self, height, width, focal_scale=1.0):
    self.h, self.w = height, width
    self.f = FOCAL_PER_WIDTH * width * focal_scale
    self.u0, self.v0 = (width - 1) / 2, (height - 1) / 2
    u, v = np.meshgrid(np.arange(width, dtype=np.float64),
                       np.arange(height, dtype=np.float64))
    self.u, self.v = u, v
    self.rays = np.stack([(u - self.u0) / self.f, (v - self.v0) / self.f,
                          np.ones_like(u)], axis=-1)

  @property
  def k(self):
    return np.array([[self.f, 0, self.u0], [0, self.f, self.v0], [0, 0, 1]])

  def project(self, x):
    """Camera points [..., 3] -> pixel coordinates [..., 2]."""
    z = np.where(np.abs(x[..., 2]) < 1e-9, 1e-9, x[..., 2])
    return np.stack([self.f * x[..., 0] / z + self.u0,
                     self.f * x[..., 1] / z + self.v0], axis=-1)
