"""Procedural driving scenes with exact ground truth: the embedded default data.

A seeded numpy generator of street scenes seen by a moving pinhole camera:
a ground plane (road with lane markings, sidewalks, terrain), buildings,
poles with signs, trees, parked / driving cars (boxes) and standing / walking
people (vertical cylinders), each with a per-class procedural texture fixed
to the surface, under a sky. Frames are rendered by vectorised ray casting
with a z-buffer (one numpy pass per visible primitive over its image-space
bounding rectangle), so every ground-truth map is exact, not estimated.

Geometry (KITTI camera convention: x right, y down, z forward). The world
frame has the street along +z, its centre line at x = 0 and the ground at
y = h (camera height); objects translate (never rotate) at constant
velocity, so a point P on object o at time τ is P₀ + v_o·τ. A pixel (u, v)
casts the ray X(t) = c + t·R·((u − u₀)/f, (v − v₀)/f, 1) from the camera
centre c with camera-to-world rotation R, so the hit parameter t is the
camera depth Z. Ground truth of frame 1 at time τ₁ against frame 2 at τ₂:

- depth Z (0 on sky), disparity d = B·f/Z (B the stereo baseline);
- surface normals: the exact outward unit normal of the hit primitive (the
  ground plane, a box face, a cylinder's side or cap) in the camera frame,
  n_cam = Rᵀ n_world, 0 on sky;
- semantic Cityscapes label ids (`LABEL_IDS`); the motion mask: pixels of
  objects with v_o ≠ 0 (independently moving, whatever the ego-motion);
- optical flow frame1 → frame2: with P₂ = P₁ + v_o·(τ₂ − τ₁) and
  X₂ = R₂ᵀ(P₂ − c₂), flow = π(X₂) − (u, v), π(X) = (f·X/Z + u₀, f·Y/Z + v₀);
  sky points lie at infinity, X₂ = R₂ᵀ·ray. `flow_valid` is False where the
  point leaves the view or is hidden in frame 2 (back-facing, or frame 2
  shows another primitive at the nearest pixel);
- the pose of camera 2 in camera 1: T = T₁⁻¹T₂ (4×4), trans = its
  translation, rot = Euler angles (rx, ry, rz) with R = Rz(rz)·Ry(ry)·Rx(rx).

Intrinsics scale Cityscapes' (fx ≈ 2262.5 px at 2048 px width): f = 1.1047·W,
u₀ = (W − 1)/2, v₀ = (H − 1)/2, baseline B = 0.209313 m.

On-disk layouts written by `write_dataset` (all PNGs via OpenCV). Each
layout root also holds `scenes.json`, the completion marker
(`tfmtl.data.marker`): "complete": false until the last sample is written,
so the readers refuse a generation that was killed. The CLI refuses a
non-empty target folder unless given --overwrite.

Cityscapes (`{stem}` = `{city}_{seq:06d}_000019`, city `synthNN`, 100
samples a city; frame 19 is the labelled frame as in Cityscapes):
  leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png        frame 1, RGB
  leftImg8bit_sequence/{split}/{city}/{city}_{seq:06d}_000018_leftImg8bit.png
                                                           frame 2 = the
      previous frame (τ₂ = τ₁ − 1; only that frame is written)
  gtFine/{split}/{city}/{stem}_gtFine_labelIds.png         uint8 label ids
  gtFine/{split}/{city}/{stem}_gtFine_motion.png           uint8, 1 moving,
      0 static (the motion annotation of seed 001)
  gtFine/{split}/{city}/{stem}_gtFine_flow.png             exact flow from
      the labelled frame to the previous one, KITTI 16-bit (flow_io)
  disparity/{split}/{city}/{stem}_disparity.png            uint16,
      p = round(256·d) + 1 (clipped to [1, 65535]), p = 0 on sky
  camera/{split}/{city}/{stem}_camera.json                 official keys
  leftImg8bit_flow_farneback_confidence/{split}/{city}/{stem}_flow.png
      the flow input of seed 001: Farneback flow labelled → previous frame
      with its confidence, 16-bit RGB PNG (`tfmtl.data.flow` format).

KITTI odometry (sequences 00, 01, ...; `num` frames spread over them):
  sequences/NN/image_2/{i:06d}.png    RGB frame i (τ = i, 10 Hz)
  sequences/NN/calib.txt              P0..P3 (3×4 row-major) and Tr lines
  sequences/NN/times.txt              i·0.1 s
  poses/NN.txt                        12 values a line: the 3×4 camera-to-
      world pose of frame i, world = camera of frame 0 (KITTI convention)
  flow/NN/{i:06d}.png                 exact flow frame i → i+1, KITTI 16-bit
      (flow_io; B = 0 where occluded or out of view), i < n − 1.

NYUv2 .npy (MTAN's preprocessed NYUv2 layout, read by `nyuv2_npy`; one
folder per split, {i} counting from 0 in each):
  {split}/image/{i}.npy     float32 [H, W, 3] RGB in [0, 1]
  {split}/label/{i}.npy     float32 [H, W] class ids 0..9 = NYU_CLASSES
                            (of NYUv2's 13; 10..12 unused)
  {split}/depth/{i}.npy     float32 [H, W, 1] metres, 0 on sky
  {split}/normal/{i}.npy    float32 [H, W, 3] camera-frame unit normals,
                            0 on sky
"""

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import time
from typing import Dict, Sequence, Tuple, Union

import cv2
import numpy as np

from tfmtl.data import flow as flow_lib
from tfmtl.data import flow_io
from tfmtl.data import marker
from tfmtl.errors import UserError

LABEL_IDS = {"road": 7, "sidewalk": 8, "building": 11, "pole": 17,
             "traffic sign": 20, "vegetation": 21, "terrain": 22, "sky": 23,
             "person": 24, "car": 26}
BASELINE = 0.209313  # Cityscapes stereo baseline, metres.
FOCAL_PER_WIDTH = 2262.52 / 2048  # Cityscapes fx over image width.
CITYSCAPES_FRAME = 19  # The labelled frame of every Cityscapes snippet.
SAMPLES_PER_CITY = 100
KITTI_SPLITS = 11  # Sequences 00..10, the ones with public poses.
_NEAR = 0.05
_K = 3  # Sinusoids per texture (`_shade` unrolls the sum).
_LIGHT = np.array([0.35, -0.85, -0.4]) / np.linalg.norm([0.35, -0.85, -0.4])
# The scenes' classes as the 13-class ids of the NYUv2 layout.
NYU_CLASSES = tuple(sorted(LABEL_IDS, key=LABEL_IDS.get))
_SKY, _GROUND = 0, 1  # Primitive ids; boxes, then cylinders follow.

# (base RGB, jitter, texture wavelength range in metres).
_STYLE = {
    "road": ((0.33, 0.32, 0.34), 0.04, (0.4, 1.6)),
    "sidewalk": ((0.62, 0.57, 0.55), 0.05, (0.25, 0.9)),
    "terrain": ((0.42, 0.50, 0.28), 0.05, (0.3, 1.2)),
    "building": ((0.62, 0.55, 0.48), 0.18, (0.6, 3.0)),
    "pole": ((0.42, 0.42, 0.45), 0.05, (0.2, 0.6)),
    "traffic sign": ((0.85, 0.75, 0.10), 0.05, (0.1, 0.3)),
    "vegetation": ((0.20, 0.45, 0.16), 0.06, (0.15, 0.6)),
    "person": ((0.45, 0.35, 0.40), 0.25, (0.12, 0.4)),
    "car": ((0.50, 0.45, 0.50), 0.35, (0.3, 1.2)),
}


class _Scene:
  """Primitives as arrays; materials are indexed by primitive id."""

  def __init__(self, h_cam, road_half, sidewalk):
    self.h_cam, self.road_half, self.sidewalk = h_cam, road_half, sidewalk
    self.boxes, self.cyls = [], []  # (lo, hi, vel, label, colour)

  def add_box(self, lo, hi, label, colour, vel=(0.0, 0.0, 0.0)):
    self.boxes.append((lo, hi, vel, label, colour))

  def add_cyl(self, x, z, r, y_top, label, colour, vel=(0.0, 0.0, 0.0)):
    # lo/hi hold (cx, y_top, cz) and (r, y_bottom, 0).
    self.cyls.append(((x, y_top, z), (r, self.h_cam, 0.0), vel, label,
                      colour))

  def finalize(self, rng):
    """Packs the primitives and draws every primitive's texture."""
    prims = self.boxes + self.cyls
    self.n_box = len(self.boxes)
    n = 2 + len(prims)
    self.lo = np.zeros((n, 3))
    self.hi = np.zeros((n, 3))
    self.vel = np.zeros((n, 3))
    self.label = np.zeros(n, np.uint8)
    self.colour = np.zeros((n, 3))
    self.label[_SKY] = LABEL_IDS["sky"]
    for i, (lo, hi, vel, label, colour) in enumerate(prims, start=2):
      self.lo[i], self.hi[i], self.vel[i] = lo, hi, vel
      self.label[i] = LABEL_IDS[label]
      self.colour[i] = colour
    self.moving = np.any(self.vel != 0, axis=1)
    lam_lo = np.full(n, 0.3)
    lam_hi = np.full(n, 1.5)
    for i, (_, _, _, label, _) in enumerate(prims, start=2):
      lam_lo[i], lam_hi[i] = _STYLE[label][2]
    direction = rng.standard_normal((n, _K, 3))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    wavelength = rng.uniform(lam_lo[:, None], lam_hi[:, None], (n, _K))
    self.freq = direction * (2 * np.pi / wavelength)[..., None]
    self.phase = rng.uniform(0, 2 * np.pi, (n, _K))
    # Ground textures per ground class (road, sidewalk, terrain) and sky.
    gdir = rng.standard_normal((3, _K, 3))
    gdir[..., 1] = 0  # Vary along the plane only.
    gdir /= np.linalg.norm(gdir, axis=-1, keepdims=True)
    glam = np.stack([rng.uniform(*_STYLE[c][2], _K)
                     for c in ("road", "sidewalk", "terrain")])
    self.gfreq = gdir * (2 * np.pi / glam)[..., None]
    self.gphase = rng.uniform(0, 2 * np.pi, (3, _K))
    self.gcolour = np.array([np.array(_STYLE[c][0]) + rng.uniform(
        -_STYLE[c][1], _STYLE[c][1], 3) for c in ("road", "sidewalk",
                                                   "terrain")])
    f32 = np.float32
    self.mat_freq = np.concatenate([self.freq, self.gfreq]).astype(f32)
    self.mat_phase = np.concatenate([self.phase, self.gphase]).astype(f32)
    self.mat_fmag = np.sqrt(np.sum(self.mat_freq ** 2, -1))
    self.mat_colour = np.concatenate([self.colour, self.gcolour]).astype(f32)
    sdir = rng.standard_normal((_K, 3))
    self.sky_freq = sdir / np.linalg.norm(sdir, axis=-1,
                                          keepdims=True) * rng.uniform(
                                              8, 25, (_K, 1))
    self.sky_phase = rng.uniform(0, 2 * np.pi, _K)
    return self


def _colour(rng, label):
  base, jitter, _ = _STYLE[label]
  return np.clip(np.array(base) + rng.uniform(-jitter, jitter, 3), 0.05, 0.95)


def _build_scene(rng, z_min, z_max, ego_speed, length_frames):
  """Draws a street covering z in [z_min, z_max] (+ what the camera sees)."""
  h = rng.uniform(1.25, 1.65)
  wr = rng.uniform(3.6, 7.0)
  ws = rng.uniform(1.8, 4.0)
  s = _Scene(h, wr, ws)
  z_end = z_max + 130.0
  for side in (-1.0, 1.0):
    # Facades along the street, with gaps filled by hedges.
    z = z_min - 25.0
    while z < z_end:
      length = rng.uniform(6, 25)
      x_in = wr + ws + rng.uniform(0, 2.5)
      if rng.random() < 0.15:
        hh = rng.uniform(1.0, 3.0)
        xs = sorted((side * x_in, side * (x_in + rng.uniform(1, 4))))
        s.add_box((xs[0], h - hh, z), (xs[1], h, z + length), "vegetation",
                  _colour(rng, "vegetation"))
      else:
        xs = sorted((side * x_in, side * (x_in + rng.uniform(8, 15))))
        s.add_box((xs[0], h - rng.uniform(5, 28), z), (xs[1], h, z + length),
                  "building", _colour(rng, "building"))
      z += length + rng.uniform(0, 1.5)
    # A far row closes the world sideways (depth stays bounded).
    xs = sorted((side * 45.0, side * 55.0))
    s.add_box((xs[0], h - rng.uniform(12, 30), z_min - 40),
              (xs[1], h, z_end + 20), "building", _colour(rng, "building"))
    # Poles (some carrying a sign) at the kerb.
    z = z_min + rng.uniform(0, 10)
    while z < z_max + 80:
      x = side * (wr + 0.35)
      r = rng.uniform(0.06, 0.14)
      top = h - rng.uniform(3.5, 8.0)
      s.add_cyl(x, z, r, top, "pole", _colour(rng, "pole"))
      if rng.random() < 0.4:
        xs = sorted((x - side * 0.1, x - side * 0.8))
        s.add_box((xs[0], top, z - 0.03), (xs[1], top + 0.6, z + 0.03),
                  "traffic sign", _colour(rng, "traffic sign"))
      z += rng.uniform(10, 30)
    # Trees on the sidewalk: a trunk and a crown.
    z = z_min + rng.uniform(0, 15)
    while z < z_max + 80:
      x = side * (wr + ws * rng.uniform(0.45, 0.8))
      bottom = h - rng.uniform(2.6, 3.6)
      s.add_cyl(x, z, rng.uniform(0.12, 0.25), bottom, "vegetation",
                _colour(rng, "vegetation") * 0.6)
      half = rng.uniform(0.9, 1.8)
      s.add_box((x - half, bottom - rng.uniform(2, 4), z - half),
                (x + half, bottom, z + half), "vegetation",
                _colour(rng, "vegetation"))
      z += rng.uniform(8, 30)
    # Parked cars where the road is wide enough to keep them off the lane.
    if wr >= 5.5:
      z = z_min + rng.uniform(0, 8)
      while z < z_max + 80:
        if rng.random() < 0.6:
          _add_car(s, rng, side * (wr - 1.0), z, (0.0, 0.0, 0.0))
        z += rng.uniform(5.5, 14)
    # People on the sidewalk, some walking along it.
    for _ in range(rng.poisson(3 + (z_max - z_min) / 12)):
      x = side * (wr + rng.uniform(0.4, ws - 0.3))
      z = rng.uniform(z_min + 2, z_max + 60)
      vz = rng.choice([-1, 1]) * rng.uniform(0.08, 0.2) if (
          rng.random() < 0.6) else 0.0
      s.add_cyl(x, z, rng.uniform(0.2, 0.3), h - rng.uniform(1.5, 1.95),
                "person", _colour(rng, "person"), (0.0, 0.0, vz))
  # Cars ahead in the ego lane drive faster than the camera (no crash);
  # oncoming cars pass in the other lane.
  for _ in range(rng.integers(0, 3)):
    z = rng.uniform(8, 45) + z_min + 5
    _add_car(s, rng, 1.75, z, (0.0, 0.0, ego_speed + rng.uniform(0.1, 0.6)))
  span = z_max - z_min + ego_speed * length_frames
  for _ in range(rng.integers(0, 3) + int(span / 40)):
    z = rng.uniform(z_min + 6, z_max + 90 + span)
    _add_car(s, rng, -1.75, z, (0.0, 0.0, -rng.uniform(0.3, 1.5)))
  # The street ends in a wall: every ray below the horizon hits something.
  s.add_box((-55.0, h - rng.uniform(10, 30), z_end), (55.0, h, z_end + 10),
            "building", _colour(rng, "building"))
  return s.finalize(rng)


def _add_car(s, rng, x, z, vel):
  w, length = rng.uniform(1.6, 1.9), rng.uniform(3.8, 4.8)
  body = rng.uniform(0.6, 0.85)
  colour = _colour(rng, "car")
  y0 = s.h_cam - 0.22
  s.add_box((x - w / 2, y0 - body, z - length / 2),
            (x + w / 2, y0, z + length / 2), "car", colour, vel)
  cab = rng.uniform(0.45, 0.6)
  s.add_box((x - w / 2 + 0.1, y0 - body - cab, z - length / 4),
            (x + w / 2 - 0.1, y0 - body, z + length / 4), "car",
            colour * 0.7, vel)


def _rot_x(a):
  c, s = np.cos(a), np.sin(a)
  return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rot_y(a):
  c, s = np.cos(a), np.sin(a)
  return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rot_z(a):
  c, s = np.cos(a), np.sin(a)
  return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def euler_from_matrix(r: np.ndarray) -> np.ndarray:
  """(rx, ry, rz) with R = Rz(rz)·Ry(ry)·Rx(rx); |ry| < π/2 assumed."""
  return np.array([np.arctan2(r[2, 1], r[2, 2]),
                   np.arcsin(-np.clip(r[2, 0], -1, 1)),
                   np.arctan2(r[1, 0], r[0, 0])])


class _Trajectory:
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
    r = _rot_y(yaw) @ _rot_x(pitch) @ _rot_z(roll)
    return r, np.array([x, 0.0, z])


class _Camera:

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


def _rects(scene, cam, r, c, tau):
  """Image rectangles (v0, v1, u0, u1) bounding each primitive, or None."""
  lo = scene.lo.copy()
  hi = scene.hi.copy()
  nb = scene.n_box
  cyl = slice(2 + nb, None)
  cx, ytop, cz = scene.lo[cyl].T
  rad, ybot = scene.hi[cyl, 0], scene.hi[cyl, 1]
  lo[cyl] = np.stack([cx - rad, ytop, cz - rad], -1)
  hi[cyl] = np.stack([cx + rad, ybot, cz + rad], -1)
  lo += scene.vel * tau
  hi += scene.vel * tau
  corners = np.stack([np.stack([np.where(m & 1, hi[:, 0], lo[:, 0]),
                                np.where(m & 2, hi[:, 1], lo[:, 1]),
                                np.where(m & 4, hi[:, 2], lo[:, 2])], -1)
                      for m in range(8)], 1)  # [n, 8, 3]
  xc = (corners - c) @ r
  out = [None, None]
  zc = xc[..., 2]
  px = cam.project(xc)
  for i in range(2, len(lo)):
    if zc[i].max() < _NEAR:
      out.append(None)
      continue
    if zc[i].min() < _NEAR:
      # Straddles the camera plane: any column can see it.
      out.append((0, cam.h, 0, cam.w))
      continue
    u0 = int(max(np.floor(px[i, :, 0].min()), 0))
    u1 = int(min(np.ceil(px[i, :, 0].max()) + 1, cam.w))
    v0 = int(max(np.floor(px[i, :, 1].min()), 0))
    v1 = int(min(np.ceil(px[i, :, 1].max()) + 1, cam.h))
    out.append((v0, v1, u0, u1) if u0 < u1 and v0 < v1 else None)
  return out


def _render_geometry(scene, cam, r, c, tau):
  """Ray casting: depth (inf on sky) and primitive id per pixel."""
  # World ray directions (camera-depth parametrised), one plane per axis so
  # slab tests run on contiguous 2-D arrays.
  d = [np.ascontiguousarray(
      cam.rays[..., 0] * r[k, 0] + cam.rays[..., 1] * r[k, 1] + r[k, 2],
      dtype=np.float32) for k in range(3)]
  inv = [1.0 / np.where(np.abs(dk) < 1e-9, np.float32(1e-9), dk) for dk in d]
  t = np.where(d[1] > 0, np.float32(scene.h_cam - c[1]) * inv[1],
               np.float32(np.inf)).astype(np.float32)
  prim = np.where(np.isfinite(t), _GROUND, _SKY).astype(np.int32)
  nb = scene.n_box
  for i, rect in enumerate(_rects(scene, cam, r, c, tau)):
    if rect is None:
      continue
    sl = (slice(rect[0], rect[1]), slice(rect[2], rect[3]))
    lo = scene.lo[i] + scene.vel[i] * tau - c
    if i < 2 + nb:
      hi = scene.hi[i] + scene.vel[i] * tau - c
      tn = tf = None
      for k in range(3):
        iv = inv[k][sl]
        a = np.float32(lo[k]) * iv
        b = np.float32(hi[k]) * iv
        near, far = np.minimum(a, b), np.maximum(a, b)
        tn = near if tn is None else np.maximum(tn, near)
        tf = far if tf is None else np.minimum(tf, far)
      hit = (tn <= tf) & (tn > _NEAR)
      th = tn
    else:
      ox, ytop, oz = -lo  # Camera relative to the axis (and top height).
      ytop = -ytop
      rad, ybot = scene.hi[i, 0], scene.hi[i, 1] - c[1]
      dx, dy, dz = d[0][sl], d[1][sl], d[2][sl]
      a = dx * dx + dz * dz
      b = 2 * (dx * np.float32(ox) + dz * np.float32(oz))
      disc = b * b - 4 * a * np.float32(ox * ox + oz * oz - rad * rad)
      with np.errstate(invalid="ignore"):
        ts = (-b - np.sqrt(disc)) / (2 * a)
      y = ts * dy
      hit_s = (disc >= 0) & (ts > _NEAR) & (y >= ytop) & (y <= ybot)
      # Top cap: only seen from above.
      tc = np.float32(ytop) * inv[1][sl]
      cx_, cz_ = ox + tc * dx, oz + tc * dz
      hit_c = (tc > _NEAR) & (cx_ * cx_ + cz_ * cz_ <= rad * rad)
      th = np.where(hit_s, ts, np.float32(np.inf))
      th = np.where(hit_c & (tc < th), tc, th)
      hit = hit_s | hit_c
    tsub = t[sl]
    closer = hit & (th < tsub)
    tsub[closer] = th[closer]
    prim[sl][closer] = i
  return t, prim, np.stack(d, -1)


def _normals(scene, prim, p_local):
  """Outward unit normal of the hit surface (translation keeps normals)."""
  n = np.zeros(prim.shape + (3,), np.float32)
  n[..., 1] = -1.0  # Ground (and sky, unused).
  nb = scene.n_box
  is_box = (prim >= 2) & (prim < 2 + nb)
  if is_box.any():
    pid = prim[is_box]
    p = p_local[is_box]
    dist = np.concatenate([np.abs(p - scene.lo[pid]),
                           np.abs(p - scene.hi[pid])], -1)
    face = dist.argmin(-1)
    nn = np.zeros((len(pid), 3))
    nn[np.arange(len(pid)), face % 3] = np.where(face < 3, -1.0, 1.0)
    n[is_box] = nn
  is_cyl = prim >= 2 + nb
  if is_cyl.any():
    pid = prim[is_cyl]
    p = p_local[is_cyl]
    cx, ytop, cz = scene.lo[pid].T
    rad = scene.hi[pid, 0]
    rx, rz = p[:, 0] - cx, p[:, 2] - cz
    radial = np.sqrt(rx * rx + rz * rz)
    cap = np.abs(p[:, 1] - ytop) < np.abs(radial - rad)
    side = np.stack([rx, np.zeros_like(rx), rz], -1) / np.maximum(
        radial, 1e-9)[:, None]
    n[is_cyl] = np.where(cap[:, None], np.array([0.0, -1.0, 0.0]), side)
  return n


def _ground_class(scene, x):
  """0 road, 1 sidewalk, 2 terrain by distance from the centre line."""
  ax = np.abs(x)
  return np.where(ax < scene.road_half, 0,
                  np.where(ax < scene.road_half + scene.sidewalk, 1, 2))


def _shade(scene, cam, t, prim, d, p_local, normal):
  """Per-class colour × procedural texture × Lambert shading."""
  hit = prim != _SKY
  ground = prim == _GROUND
  x, z = p_local[..., 0], p_local[..., 2]
  # One material table: primitives, then the three ground classes.
  mat = np.where(ground, len(scene.label) + _ground_class(scene, x), prim)
  freq = scene.mat_freq[mat]  # [H, W, K, 3]
  dx, dy, dz = d[..., 0], d[..., 1], d[..., 2]
  nx, ny, nz = normal[..., 0], normal[..., 1], normal[..., 2]
  dn = np.sqrt(dx * dx + dy * dy + dz * dz)
  cos = np.abs(dx * nx + dy * ny + dz * nz) / dn
  # Fade each sinusoid (frequency w) once its period nears the pixel
  # footprint, a cheap anisotropic low-pass against aliasing: the footprint
  # is ρ = distance / f across the view and ρ / cos θ along it, so the
  # phase change per pixel is ρ²(|w|² + (w·v)² / cos²θ) with v = d̂ − (d̂·n)n.
  cos = np.maximum(cos, 0.05)
  rho = np.where(hit, t, 0.0) * dn / cam.f
  dot = (dx * nx + dy * ny + dz * nz) / dn
  vx, vy, vz = (dx / dn - dot * nx, dy / dn - dot * ny, dz / dn - dot * nz)
  along = (freq[..., 0] * vx[..., None] + freq[..., 1] * vy[..., None] +
           freq[..., 2] * vz[..., None]) / cos[..., None]
  arg = (freq[..., 0] * x[..., None] + freq[..., 1] * p_local[..., 1, None] +
         freq[..., 2] * z[..., None] + scene.mat_phase[mat])
  atten = np.exp(-0.32 * rho[..., None] ** 2 *
                 (scene.mat_fmag[mat] ** 2 + along * along))
  wave = np.sin(arg) * atten
  tex = 1.0 + 0.22 * (wave[..., 0] + wave[..., 1] + wave[..., 2])
  light = -_LIGHT
  lam = 0.55 + 0.5 * np.maximum(nx * light[0] + ny * light[1] +
                                nz * light[2], 0)
  rgb = scene.mat_colour[mat] * (tex * lam)[..., None]
  # Lane markings: dashed centre line, solid edge lines.
  ax = np.abs(x)
  mark = ground & ((ax < 0.08) & (np.mod(z, 9.0) < 4.5) |
                   (np.abs(ax - (scene.road_half - 0.25)) < 0.08))
  rgb[mark] = 0.9
  # Sky: brighter towards the horizon, faint clouds fixed to directions.
  sky = ~hit
  if sky.any():
    u = d[sky] / dn[sky, None]
    clouds = np.sin(u @ scene.sky_freq.T + scene.sky_phase).sum(-1)
    rgb[sky] = (np.array([0.45, 0.62, 0.88]) +
                (0.3 * np.clip(u[:, 1] + 0.3, 0, 1))[:, None] +
                0.05 * clouds[:, None])
  return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def _render(scene, cam, pose, tau):
  """Renders one frame: image, geometry and per-pixel surface data."""
  r, c = pose
  t, prim, d = _render_geometry(scene, cam, r, c, tau)
  hit = prim != _SKY
  p_world = (c + np.where(hit, t, 0.0)[..., None] * d).astype(np.float32)
  p_local = p_world
  if tau != 0 and scene.moving.any():
    p_local = p_world - (scene.vel[prim] * tau).astype(np.float32)
  normal = _normals(scene, prim, p_local)
  image = _shade(scene, cam, t, prim, d, p_local, normal)
  return {"image": image, "t": t, "prim": prim, "d": d, "p_world": p_world,
          "normal": normal, "r": r, "c": c, "tau": tau}


def _flow(scene, cam, f1, f2):
  """Exact flow frame 1 -> frame 2 and where it is observable."""
  hit = f1["prim"] != _SKY
  p2 = f1["p_world"] + scene.vel[f1["prim"]] * (f2["tau"] - f1["tau"])
  # Sky lies at infinity: only the rotation moves it.
  x2 = np.where(hit[..., None], p2 - f2["c"], f1["d"]) @ f2["r"]
  uv2 = cam.project(x2)
  flow = np.stack([uv2[..., 0] - cam.u, uv2[..., 1] - cam.v], -1)
  ui = np.round(uv2[..., 0])
  vi = np.round(uv2[..., 1])
  inside = ((x2[..., 2] > _NEAR) & (ui >= 0) & (ui < cam.w) & (vi >= 0) &
            (vi < cam.h))
  ui = np.clip(ui, 0, cam.w - 1).astype(np.int64)
  vi = np.clip(vi, 0, cam.h - 1).astype(np.int64)
  same = f2["prim"][vi, ui] == f1["prim"]
  facing = np.sum(f1["normal"] * (f2["c"] - p2), -1) > 0
  valid = inside & same & (facing | ~hit)
  return flow.astype(np.float32), valid


def _pose_labels(pose1, pose2):
  r1, c1 = pose1
  r2, c2 = pose2
  t = np.eye(4)
  t[:3, :3] = r1.T @ r2
  t[:3, 3] = r1.T @ (c2 - c1)
  return t


def _rng(rng_or_seed):
  if isinstance(rng_or_seed, np.random.Generator):
    return rng_or_seed
  return np.random.default_rng(rng_or_seed)


def _check_size(height, width):
  if height < 8 or width < 8:
    raise UserError(f"scenes: image size {height}x{width} is too small; use "
                    "at least 8x8 (e.g. --height 256 --width 512)")


def generate_sample(rng_or_seed: Union[int, np.random.Generator, Sequence],
                    height: int = 256, width: int = 512,
                    step: int = -1,
                    focal_scale: float = 1.0) -> Dict[str, np.ndarray]:
  """One scene seen at two times, with exact ground truth for frame 1.

  Args:
    rng_or_seed: a `np.random.Generator` or anything `default_rng` takes.
    height, width: image size in pixels.
    step: time of frame 2 minus time of frame 1, in frames. The default −1
      makes frame 2 the previous frame (Cityscapes: labelled frame and the
      frame before it); +1 the next one (odometry).
    focal_scale: focal length over Cityscapes' (fx = 1.105·width·scale):
      > 1 zooms in (narrower field of view), < 1 widens it.

  Returns:
    dict of numpy arrays: image1, image2 [H, W, 3] uint8 RGB; depth [H, W]
    float32 metres (0 on sky); disparity [H, W] float32 px (0 on sky);
    semantic [H, W] uint8 Cityscapes ids; motion [H, W] uint8 (1 moving);
    normal [H, W, 3] float32 camera-frame unit normals (0 on sky);
    flow [H, W, 2] float32 frame1 → frame2 and flow_valid [H, W] bool;
    pose [4, 4] camera 2 in camera 1, trans [3], rot [3] (see module doc);
    intrinsics [3, 3]; baseline, camera_height (scalars).
  """
  _check_size(height, width)
  rng = _rng(rng_or_seed)
  traj = _Trajectory(rng, tau0=rng.uniform(0, 100))
  scene = _build_scene(rng, -5.0, 60.0, traj.speed, 2)
  cam = _Camera(height, width, focal_scale)
  f1 = _render(scene, cam, traj(0.0), 0.0)
  f2 = _render(scene, cam, traj(float(step)), float(step))
  return _ground_truth(scene, cam, f1, f2)


def _ground_truth(scene, cam, f1, f2):
  flow, valid = _flow(scene, cam, f1, f2)
  hit = f1["prim"] != _SKY
  depth = np.where(hit, f1["t"], 0.0)
  with np.errstate(divide="ignore"):
    disparity = np.where(hit, BASELINE * cam.f / np.where(hit, depth, 1), 0.0)
  semantic = scene.label[f1["prim"]].copy()
  ground = f1["prim"] == _GROUND
  gclass = _ground_class(scene, f1["p_world"][..., 0])
  ground_ids = np.array([LABEL_IDS["road"], LABEL_IDS["sidewalk"],
                         LABEL_IDS["terrain"]], np.uint8)
  semantic[ground] = ground_ids[gclass[ground]]
  pose = _pose_labels((f1["r"], f1["c"]), (f2["r"], f2["c"]))
  return {
      "image1": f1["image"], "image2": f2["image"],
      "depth": depth.astype(np.float32),
      "disparity": disparity.astype(np.float32),
      "semantic": semantic,
      "motion": scene.moving[f1["prim"]].astype(np.uint8),
      # Row vectors: n_cam = Rᵀ n_world is n_world @ R.
      "normal": np.where(hit[..., None], f1["normal"] @ f1["r"],
                         0.0).astype(np.float32),
      "flow": flow, "flow_valid": valid,
      "pose": pose, "trans": pose[:3, 3].copy(),
      "rot": euler_from_matrix(pose[:3, :3]),
      "intrinsics": cam.k, "baseline": BASELINE,
      "camera_height": scene.h_cam,
  }


def generate_sequence(rng_or_seed, num_frames: int, height: int = 256,
                      width: int = 512):
  """Frames along one continuous drive through one generated street.

  Yields, for i = 0 .. num_frames − 1, dicts with image (uint8 RGB),
  pose_c2w [4, 4] (camera i to world), and for i < num_frames − 1 the
  exact flow i → i+1 with flow_valid (None for the last frame). The world
  frame here is the street's; `write_dataset` re-expresses poses in the
  frame of camera 0 as KITTI does.
  """
  _check_size(height, width)
  if num_frames < 1:
    raise UserError(f"scenes: a sequence needs at least 1 frame, got "
                    f"{num_frames}")
  rng = _rng(rng_or_seed)
  traj = _Trajectory(rng, tau0=rng.uniform(0, 100))
  z_max = traj.speed * num_frames + 60.0
  scene = _build_scene(rng, -5.0, z_max, traj.speed, num_frames)
  cam = _Camera(height, width)
  cur = _render(scene, cam, traj(0.0), 0.0)
  for i in range(num_frames):
    nxt = (_render(scene, cam, traj(float(i + 1)), float(i + 1))
           if i + 1 < num_frames else None)
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = cur["r"], cur["c"]
    out = {"image": cur["image"], "pose_c2w": pose, "flow": None,
           "flow_valid": None}
    if nxt is not None:
      out["flow"], out["flow_valid"] = _flow(scene, cam, cur, nxt)
    yield out
    cur = nxt


# ----------------------------------------------------------------- writing


def _imwrite(path, image):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  if image.ndim == 3:
    image = image[..., ::-1]  # OpenCV writes BGR.
  if not cv2.imwrite(path, image):
    raise UserError(f"{path}: could not write the image (disk full or "
                    "unwritable directory?)")


def disparity_to_png(disparity: np.ndarray) -> np.ndarray:
  """Cityscapes encoding: p = round(256·d) + 1, p = 0 where d <= 0."""
  p = np.clip(np.round(disparity * 256.0) + 1, 1, 65535)
  return np.where(disparity > 0, p, 0).astype(np.uint16)


def camera_json(intrinsics, baseline, camera_height) -> Dict:
  """The official Cityscapes camera file (extrinsic + intrinsic keys)."""
  return {
      "extrinsic": {"baseline": float(baseline), "pitch": 0.0, "roll": 0.0,
                    "x": 0.0, "y": 0.0, "yaw": 0.0,
                    "z": round(float(camera_height), 6)},
      "intrinsic": {"fx": float(intrinsics[0, 0]),
                    "fy": float(intrinsics[1, 1]),
                    "u0": float(intrinsics[0, 2]),
                    "v0": float(intrinsics[1, 2])},
  }


def _sample_seed(seed, kind, index):
  # Each sample has its own stream: results don't depend on scheduling.
  return np.random.SeedSequence([seed, kind, index])


def _cityscapes_task(args):
  root, split, index, local, seed, height, width, farneback, focal = args
  s = generate_sample(np.random.default_rng(_sample_seed(seed, 0, index)),
                      height, width, step=-1, focal_scale=focal)
  city = f"synth{local // SAMPLES_PER_CITY:02d}"
  seq = local % SAMPLES_PER_CITY
  stem = f"{city}_{seq:06d}_{CITYSCAPES_FRAME:06d}"

  def path(folder, suffix):
    return os.path.join(root, folder, split, city, f"{stem}_{suffix}")

  _imwrite(path("leftImg8bit", "leftImg8bit.png"), s["image1"])
  prev = f"{city}_{seq:06d}_{CITYSCAPES_FRAME - 1:06d}_leftImg8bit.png"
  _imwrite(os.path.join(root, "leftImg8bit_sequence", split, city, prev),
           s["image2"])
  _imwrite(path("gtFine", "gtFine_labelIds.png"), s["semantic"])
  _imwrite(path("gtFine", "gtFine_motion.png"), s["motion"])
  flow_io.write_flow(path("gtFine", "gtFine_flow.png"), s["flow"],
                     s["flow_valid"])
  _imwrite(path("disparity", "disparity.png"),
           disparity_to_png(s["disparity"]))
  cam_path = path("camera", "camera.json")
  os.makedirs(os.path.dirname(cam_path), exist_ok=True)
  with open(cam_path, "w") as f:
    json.dump(camera_json(s["intrinsics"], s["baseline"],
                          s["camera_height"]), f, indent=2, sort_keys=True)
  if farneback:
    flow_lib.write_flow_confidence(
        path(flow_lib.CITYSCAPES_FOLDER, "flow.png"),
        flow_lib.farneback(s["image1"], s["image2"]))
  return 1


def _nyuv2_task(args):
  root, split, index, local, seed, height, width = args
  s = generate_sample(np.random.default_rng(_sample_seed(seed, 2, index)),
                      height, width, step=-1)
  to_nyu = np.zeros(256, np.float32)
  for k, name in enumerate(NYU_CLASSES):
    to_nyu[LABEL_IDS[name]] = k
  arrays = {"image": s["image1"].astype(np.float32) / 255.0,
            "label": to_nyu[s["semantic"]],
            "depth": s["depth"][..., None],
            "normal": s["normal"]}
  for kind, value in arrays.items():
    folder = os.path.join(root, split, kind)
    os.makedirs(folder, exist_ok=True)
    np.save(os.path.join(folder, f"{local}.npy"), value.astype(np.float32))
  return 1


def kitti_calib(intrinsics, baseline) -> str:
  """calib.txt text: P0..P3 as KITTI (P1/P3 right cameras), Tr = [I|0]."""
  lines = []
  for name, tx in (("P0", 0.0), ("P1", -baseline), ("P2", 0.0),
                   ("P3", -baseline)):
    p = np.concatenate([intrinsics, intrinsics @ np.array([[tx], [0], [0]])],
                       1)
    lines.append(name + ": " + " ".join(f"{v:.12e}" for v in p.ravel()))
  lines.append("Tr: " + " ".join(f"{v:.12e}" for v in
                                 np.eye(4)[:3].ravel()))
  return "\n".join(lines) + "\n"


def _kitti_task(args):
  root, seq, frames, seed, height, width = args
  name = f"{seq:02d}"
  seq_dir = os.path.join(root, "sequences", name)
  poses = []
  world_from_0 = None
  for i, fr in enumerate(generate_sequence(
      np.random.default_rng(_sample_seed(seed, 1, seq)), frames, height,
      width)):
    _imwrite(os.path.join(seq_dir, "image_2", f"{i:06d}.png"), fr["image"])
    if world_from_0 is None:
      world_from_0 = np.linalg.inv(fr["pose_c2w"])
    poses.append((world_from_0 @ fr["pose_c2w"])[:3].ravel())
    if fr["flow"] is not None:
      flow_io.write_flow(os.path.join(root, "flow", name, f"{i:06d}.png"),
                         fr["flow"], fr["flow_valid"])
  cam = _Camera(height, width)
  with open(os.path.join(seq_dir, "calib.txt"), "w") as f:
    f.write(kitti_calib(cam.k, BASELINE))
  with open(os.path.join(seq_dir, "times.txt"), "w") as f:
    f.write("".join(f"{0.1 * i:.6e}\n" for i in range(frames)))
  os.makedirs(os.path.join(root, "poses"), exist_ok=True)
  with open(os.path.join(root, "poses", f"{name}.txt"), "w") as f:
    f.write("".join(" ".join(f"{v:.9e}" for v in p) + "\n" for p in poses))
  return frames


def _split_counts(num, splits):
  names = [s for s, _ in splits]
  fracs = np.array([f for _, f in splits], float)
  if np.any(fracs < 0) or fracs.sum() <= 0:
    raise UserError(f"scenes: split fractions {splits} must be >= 0 with a "
                    "positive sum")
  bounds = np.round(np.cumsum(fracs) / fracs.sum() * num).astype(int)
  return list(zip(names, np.diff(np.concatenate([[0], bounds]))))


def _init_worker():
  cv2.setNumThreads(1)


class _Progress:
  """tqdm when installed, else one line rewritten with the ETA."""

  def __init__(self, total, enabled):
    self.total, self.done, self.t0 = total, 0, time.time()
    self.enabled = enabled
    self.bar = None
    if enabled:
      try:
        from tqdm import tqdm  # pylint: disable=g-import-not-at-top
        self.bar = tqdm(total=total, unit="frame", file=sys.stderr)
      except ImportError:
        pass

  def update(self, n):
    self.done += n
    if self.bar is not None:
      self.bar.update(n)
    elif self.enabled:
      dt = time.time() - self.t0
      eta = dt / max(self.done, 1) * (self.total - self.done)
      sys.stderr.write(f"\r{self.done}/{self.total} frames, "
                       f"{dt:.0f}s elapsed, ETA {eta:.0f}s")

  def close(self):
    if self.bar is not None:
      self.bar.close()
    elif self.enabled:
      sys.stderr.write("\n")


def write_dataset(out_dir: str, num: int, height: int = 256, width: int = 512,
                  seed: int = 0,
                  layouts: Sequence[str] = ("cityscapes", "kitti"),
                  splits: Sequence[Tuple[str, float]] = (
                      ("train", 0.8), ("val", 0.1), ("test", 0.1)),
                  kitti_sequences: int = KITTI_SPLITS,
                  farneback: bool = True, workers: int = 1,
                  progress: bool = False,
                  overwrite: bool = False,
                  focal_scale: float = 1.0) -> Dict[str, int]:
  """Writes `num` samples in each layout (see the module doc for the files).

  Each layout root gets a completion marker (`scenes.json`, see
  `tfmtl.data.marker`) that says "incomplete" until the last sample is
  written; the readers refuse a generated dataset that isn't complete.

  Args:
    out_dir: root; the layouts go to `out_dir/cityscapes`,
      `out_dir/kitti` and `out_dir/nyuv2`.
    num: Cityscapes samples, and KITTI frames spread over
      `kitti_sequences` sequences (at least 2 frames each).
    height, width: image size.
    seed: same seed, same bytes (every sample draws from its own stream).
    layouts: any of "cityscapes", "kitti", "nyuv2".
    splits: (name, fraction) pairs for the Cityscapes and NYUv2 samples
      (KITTI splits by sequence number, as the odometry readers do).
    kitti_sequences: number of KITTI sequences (00, 01, ...).
    farneback: also write the Farneback flow + confidence input.
    workers: processes (samples are independent; results do not depend
      on it).
    progress: show a progress bar on stderr.
    overwrite: replace the layouts' folders if they are not empty (else
      refused: old and new samples would mix).
    focal_scale: the Cityscapes layout's camera zoom (`generate_sample`);
      its camera files carry the focal length, so depth stays exact.

  Returns:
    {layout: number of frames written}.
  """
  _check_size(height, width)
  unknown = set(layouts) - {"cityscapes", "kitti", "nyuv2"}
  if unknown or not layouts:
    raise UserError(f"scenes: unknown layouts {sorted(unknown)}; use "
                    "cityscapes, kitti and/or nyuv2")
  if num < 1:
    raise UserError(f"scenes: --num must be >= 1, got {num}")
  if not focal_scale > 0:
    raise UserError(f"scenes: focal_scale must be > 0, got {focal_scale}")
  _prepare_out(out_dir, layouts, overwrite)
  tasks, written = [], {}
  if "kitti" in layouts:
    root = os.path.join(out_dir, "kitti")
    n_seq = max(1, min(kitti_sequences, num // 2))
    per = [num // n_seq + (k < num % n_seq) for k in range(n_seq)]
    tasks += [(_kitti_task, (root, k, max(per[k], 2), seed, height, width))
              for k in range(n_seq)]
    written["kitti"] = sum(max(p, 2) for p in per)
  if "cityscapes" in layouts:
    root = os.path.join(out_dir, "cityscapes")
    index = 0
    for split, count in _split_counts(num, splits):
      for local in range(count):
        tasks.append((_cityscapes_task, (root, split, index, local, seed,
                                         height, width, farneback,
                                         focal_scale)))
        index += 1
    written["cityscapes"] = num
  if "nyuv2" in layouts:
    root = os.path.join(out_dir, "nyuv2")
    index = 0
    for split, count in _split_counts(num, splits):
      for local in range(count):
        tasks.append((_nyuv2_task, (root, split, index, local, seed, height,
                                    width)))
        index += 1
    written["nyuv2"] = num
  info = dict(height=height, width=width, seed=seed)
  if focal_scale != 1.0:
    info["focal_scale"] = focal_scale
  for layout, count in written.items():
    marker.write(os.path.join(out_dir, layout), False, frames=count, **info)
  bar = _Progress(sum(written.values()), progress)
  try:
    if workers <= 1:
      for fn, args in tasks:
        bar.update(fn(args))
    else:
      # A fresh server process (not fork: the parent may run TensorFlow's
      # threads) that imports this module once for all workers.
      ctx = multiprocessing.get_context("forkserver")
      ctx.set_forkserver_preload([__name__])
      with ctx.Pool(workers, initializer=_init_worker) as pool:
        for n in pool.imap_unordered(_call, tasks):
          bar.update(n)
  finally:
    bar.close()
  for layout, count in written.items():  # last: the dataset is complete
    marker.write(os.path.join(out_dir, layout), True, frames=count, **info)
  return written


def _prepare_out(out_dir: str, layouts, overwrite: bool) -> None:
  """Refuses an output path that is a file, or non-empty layout folders
  unless `overwrite` (then they are deleted first)."""
  if os.path.exists(out_dir) and not os.path.isdir(out_dir):
    raise UserError(f"scenes: --out {out_dir!r} is a file; give a directory")
  for layout in layouts:
    root = os.path.join(out_dir, layout)
    if os.path.isdir(root) and os.listdir(root):
      if not overwrite:
        raise UserError(
            f"scenes: {root!r} is not empty (old and new samples would mix); "
            "give another --out or pass --overwrite to replace it")
      shutil.rmtree(root)


def _call(task):
  fn, args = task
  return fn(args)


def main(argv=None):
  p = argparse.ArgumentParser(
      prog="python -m tfmtl.data.scenes",
      description="Writes procedural driving scenes in the Cityscapes, "
                  "KITTI odometry and NYUv2 .npy layouts.")
  p.add_argument("--out", required=True, help="output directory")
  p.add_argument("--num", type=int, required=True,
                 help="samples per layout (KITTI: frames over all sequences)")
  p.add_argument("--height", type=int, default=256)
  p.add_argument("--width", type=int, default=512)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--layouts", default="cityscapes,kitti",
                 help="comma-separated: cityscapes,kitti,nyuv2")
  p.add_argument("--kitti_sequences", type=int, default=KITTI_SPLITS)
  p.add_argument("--no_farneback", action="store_true",
                 help="skip the Farneback flow + confidence input")
  p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
  p.add_argument("--overwrite", action="store_true",
                 help="replace existing layout folders under --out")
  p.add_argument("--focal_scale", type=float, default=1.0,
                 help="cityscapes camera zoom: focal length over "
                 "Cityscapes' (> 1: narrower view)")
  a = p.parse_args(argv)
  try:
    t0 = time.time()
    written = write_dataset(
        a.out, a.num, a.height, a.width, a.seed,
        tuple(s for s in a.layouts.split(",") if s),
        kitti_sequences=a.kitti_sequences, farneback=not a.no_farneback,
        workers=a.workers, progress=True, overwrite=a.overwrite,
        focal_scale=a.focal_scale)
  except OSError as e:
    print(f"error: scenes: cannot write {a.out!r}: {e.strerror} "
          f"({e.filename})", file=sys.stderr)
    return 2
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"wrote {written} to {a.out} in {time.time() - t0:.1f}s")
  return 0


if __name__ == "__main__":
  sys.exit(main())
