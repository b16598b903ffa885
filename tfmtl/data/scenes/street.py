"""The street a scene is made of: its primitives, classes and textures.

A ground plane (road with lane markings, sidewalks, terrain), buildings,
poles with signs, trees, parked / driving cars (boxes) and standing /
walking people (vertical cylinders), each with a per-class procedural
texture fixed to the surface, under a sky. `build_scene` draws one street
from a seeded generator; the draws' order is the data's identity (same
seed, same bytes), so reordering them changes every generated dataset.
"""

import numpy as np

LABEL_IDS = {"road": 7, "sidewalk": 8, "building": 11, "pole": 17,
             "traffic sign": 20, "vegetation": 21, "terrain": 22, "sky": 23,
             "person": 24, "car": 26}
SINUSOIDS = 3  # Per texture (`render.shade` unrolls the sum).
SKY, GROUND = 0, 1  # Primitive ids; boxes, then cylinders follow.

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


class Scene:
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
    k = SINUSOIDS
    prims = self.boxes + self.cyls
    self.n_box = len(self.boxes)
    n = 2 + len(prims)
    self.lo = np.zeros((n, 3))
    self.hi = np.zeros((n, 3))
    self.vel = np.zeros((n, 3))
    self.label = np.zeros(n, np.uint8)
    self.colour = np.zeros((n, 3))
    self.label[SKY] = LABEL_IDS["sky"]
    for i, (lo, hi, vel, label, colour) in enumerate(prims, start=2):
      self.lo[i], self.hi[i], self.vel[i] = lo, hi, vel
      self.label[i] = LABEL_IDS[label]
      self.colour[i] = colour
    self.moving = np.any(self.vel != 0, axis=1)
    lam_lo = np.full(n, 0.3)
    lam_hi = np.full(n, 1.5)
    for i, (_, _, _, label, _) in enumerate(prims, start=2):
      lam_lo[i], lam_hi[i] = _STYLE[label][2]
    direction = rng.standard_normal((n, k, 3))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    wavelength = rng.uniform(lam_lo[:, None], lam_hi[:, None], (n, k))
    self.freq = direction * (2 * np.pi / wavelength)[..., None]
    self.phase = rng.uniform(0, 2 * np.pi, (n, k))
    # Ground textures per ground class (road, sidewalk, terrain) and sky.
    gdir = rng.standard_normal((3, k, 3))
    gdir[..., 1] = 0  # Vary along the plane only.
    gdir /= np.linalg.norm(gdir, axis=-1, keepdims=True)
    glam = np.stack([rng.uniform(*_STYLE[c][2], k)
                     for c in ("road", "sidewalk", "terrain")])
    self.gfreq = gdir * (2 * np.pi / glam)[..., None]
    self.gphase = rng.uniform(0, 2 * np.pi, (3, k))
    self.gcolour = np.array([np.array(_STYLE[c][0]) + rng.uniform(
        -_STYLE[c][1], _STYLE[c][1], 3) for c in ("road", "sidewalk",
                                                   "terrain")])
    f32 = np.float32
    self.mat_freq = np.concatenate([self.freq, self.gfreq]).astype(f32)
    self.mat_phase = np.concatenate([self.phase, self.gphase]).astype(f32)
    self.mat_fmag = np.sqrt(np.sum(self.mat_freq ** 2, -1))
    self.mat_colour = np.concatenate([self.colour, self.gcolour]).astype(f32)
    sdir = rng.standard_normal((k, 3))
    self.sky_freq = sdir / np.linalg.norm(sdir, axis=-1,
                                          keepdims=True) * rng.uniform(
                                              8, 25, (k, 1))
    self.sky_phase = rng.uniform(0, 2 * np.pi, k)
    return self


def _colour(rng, label):
  base, jitter, _ = _STYLE[label]
  return np.clip(np.array(base) + rng.uniform(-jitter, jitter, 3), 0.05, 0.95)


def build_scene(rng, z_min, z_max, ego_speed, length_frames):
  """Draws a street covering z in [z_min, z_max] (+ what the camera sees)."""
  h = rng.uniform(1.25, 1.65)
  wr = rng.uniform(3.6, 7.0)
  ws = rng.uniform(1.8, 4.0)
  s = Scene(h, wr, ws)
  z_end = z_max + 130.0
  for side in (-1.0, 1.0):
    _add_facades(s, rng, side, z_min, z_end)
    _add_poles(s, rng, side, z_min, z_max)
    _add_trees(s, rng, side, z_min, z_max)
    # Parked cars where the road is wide enough to keep them off the lane.
    if wr >= 5.5:
      _add_parked_cars(s, rng, side, z_min, z_max)
    _add_people(s, rng, side, z_min, z_max)
  _add_traffic(s, rng, z_min, z_max, ego_speed, length_frames)
  # The street ends in a wall: every ray below the horizon hits something.
  s.add_box((-55.0, h - rng.uniform(10, 30), z_end), (55.0, h, z_end + 10),
            "building", _colour(rng, "building"))
  return s.finalize(rng)


def _add_facades(s, rng, side, z_min, z_end):
  """Facades along one side, gaps filled by hedges, and a far row behind."""
  h, wr, ws = s.h_cam, s.road_half, s.sidewalk
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
  # The far row closes the world sideways (depth stays bounded).
  xs = sorted((side * 45.0, side * 55.0))
  s.add_box((xs[0], h - rng.uniform(12, 30), z_min - 40),
            (xs[1], h, z_end + 20), "building", _colour(rng, "building"))


def _add_poles(s, rng, side, z_min, z_max):
  """Poles at the kerb, some carrying a sign."""
  h, wr = s.h_cam, s.road_half
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


def _add_trees(s, rng, side, z_min, z_max):
  """Trees on the sidewalk: a trunk and a crown."""
  h, wr, ws = s.h_cam, s.road_half, s.sidewalk
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


def _add_parked_cars(s, rng, side, z_min, z_max):
  z = z_min + rng.uniform(0, 8)
  while z < z_max + 80:
    if rng.random() < 0.6:
      _add_car(s, rng, side * (s.road_half - 1.0), z, (0.0, 0.0, 0.0))
    z += rng.uniform(5.5, 14)


def _add_people(s, rng, side, z_min, z_max):
  """People on the sidewalk, some walking along it."""
  h, wr, ws = s.h_cam, s.road_half, s.sidewalk
  for _ in range(rng.poisson(3 + (z_max - z_min) / 12)):
    x = side * (wr + rng.uniform(0.4, ws - 0.3))
    z = rng.uniform(z_min + 2, z_max + 60)
    vz = rng.choice([-1, 1]) * rng.uniform(0.08, 0.2) if (
        rng.random() < 0.6) else 0.0
    s.add_cyl(x, z, rng.uniform(0.2, 0.3), h - rng.uniform(1.5, 1.95),
              "person", _colour(rng, "person"), (0.0, 0.0, vz))


def _add_traffic(s, rng, z_min, z_max, ego_speed, length_frames):
  """Cars ahead in the ego lane and oncoming cars in the other lane."""
  # Ahead they drive faster than the camera (no crash).
  for _ in range(rng.integers(0, 3)):
    z = rng.uniform(8, 45) + z_min + 5
    _add_car(s, rng, 1.75, z, (0.0, 0.0, ego_speed + rng.uniform(0.1, 0.6)))
  span = z_max - z_min + ego_speed * length_frames
  for _ in range(rng.integers(0, 3) + int(span / 40)):
    z = rng.uniform(z_min + 6, z_max + 90 + span)
    _add_car(s, rng, -1.75, z, (0.0, 0.0, -rng.uniform(0.3, 1.5)))


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
