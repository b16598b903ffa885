"""Rendering a scene: ray casting, normals, shading and the exact flow.

Frames are rendered by vectorised ray casting with a z-buffer (one numpy
pass per visible primitive over its image-space bounding rectangle), so
every ground-truth map is exact, not estimated. The maths are in
`geometry`'s docstring.
"""

import numpy as np

from tfmtl.data.scenes.geometry import NEAR
from tfmtl.data.scenes.street import GROUND, SKY

_LIGHT = np.array([0.35, -0.85, -0.4]) / np.linalg.norm([0.35, -0.85, -0.4])


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
    if zc[i].max() < NEAR:
      out.append(None)
      continue
    if zc[i].min() < NEAR:
      # Straddles the camera plane: any column can see it.
      out.append((0, cam.h, 0, cam.w))
      continue
    u0 = int(max(np.floor(px[i, :, 0].min()), 0))
    u1 = int(min(np.ceil(px[i, :, 0].max()) + 1, cam.w))
    v0 = int(max(np.floor(px[i, :, 1].min()), 0))
    v1 = int(min(np.ceil(px[i, :, 1].max()) + 1, cam.h))
    out.append((v0, v1, u0, u1) if u0 < u1 and v0 < v1 else None)
  return out


def _hit_box(lo, hi, inv, sl):
  """Slab test of the rays in `sl` against a box (corners relative to the
  camera): (hit, depth of the entry point)."""
  tn = tf = None
  for k in range(3):
    iv = inv[k][sl]
    a = np.float32(lo[k]) * iv
    b = np.float32(hi[k]) * iv
    near, far = np.minimum(a, b), np.maximum(a, b)
    tn = near if tn is None else np.maximum(tn, near)
    tf = far if tf is None else np.minimum(tf, far)
  return (tn <= tf) & (tn > NEAR), tn


def _hit_cylinder(lo, rad, ybot, d, inv, sl):
  """The rays in `sl` against a vertical cylinder's side and top cap: (hit,
  depth). `lo` is (axis x, top y, axis z) relative to the camera."""
  ox, ytop, oz = -lo  # Camera relative to the axis (and top height).
  ytop = -ytop
  dx, dy, dz = d[0][sl], d[1][sl], d[2][sl]
  a = dx * dx + dz * dz
  b = 2 * (dx * np.float32(ox) + dz * np.float32(oz))
  disc = b * b - 4 * a * np.float32(ox * ox + oz * oz - rad * rad)
  with np.errstate(invalid="ignore"):
    ts = (-b - np.sqrt(disc)) / (2 * a)
  y = ts * dy
  hit_s = (disc >= 0) & (ts > NEAR) & (y >= ytop) & (y <= ybot)
  # Top cap: only seen from above.
  tc = np.float32(ytop) * inv[1][sl]
  cx_, cz_ = ox + tc * dx, oz + tc * dz
  hit_c = (tc > NEAR) & (cx_ * cx_ + cz_ * cz_ <= rad * rad)
  th = np.where(hit_s, ts, np.float32(np.inf))
  th = np.where(hit_c & (tc < th), tc, th)
  return hit_s | hit_c, th


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
  prim = np.where(np.isfinite(t), GROUND, SKY).astype(np.int32)
  nb = scene.n_box
  for i, rect in enumerate(_rects(scene, cam, r, c, tau)):
    if rect is None:
      continue
    sl = (slice(rect[0], rect[1]), slice(rect[2], rect[3]))
    lo = scene.lo[i] + scene.vel[i] * tau - c
    if i < 2 + nb:
      hit, th = _hit_box(lo, scene.hi[i] + scene.vel[i] * tau - c, inv, sl)
    else:
      hit, th = _hit_cylinder(lo, scene.hi[i, 0], scene.hi[i, 1] - c[1], d,
                              inv, sl)
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


def ground_class(scene, x):
  """0 road, 1 sidewalk, 2 terrain by distance from the centre line."""
  ax = np.abs(x)
  return np.where(ax < scene.road_half, 0,
                  np.where(ax < scene.road_half + scene.sidewalk, 1, 2))


def _shade(scene, cam, t, prim, d, p_local, normal):
  """Per-class colour × procedural texture × Lambert shading."""
  hit = prim != SKY
  ground = prim == GROUND
  x, z = p_local[..., 0], p_local[..., 2]
  # One material table: primitives, then the three ground classes.
  mat = np.where(ground, len(scene.label) + ground_class(scene, x), prim)
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


def render(scene, cam, pose, tau):
  """Renders one frame: image, geometry and per-pixel surface data."""
  r, c = pose
  t, prim, d = _render_geometry(scene, cam, r, c, tau)
  hit = prim != SKY
  p_world = (c + np.where(hit, t, 0.0)[..., None] * d).astype(np.float32)
  p_local = p_world
  if tau != 0 and scene.moving.any():
    p_local = p_world - (scene.vel[prim] * tau).astype(np.float32)
  normal = _normals(scene, prim, p_local)
  image = _shade(scene, cam, t, prim, d, p_local, normal)
  return {"image": image, "t": t, "prim": prim, "d": d, "p_world": p_world,
          "normal": normal, "r": r, "c": c, "tau": tau}


def flow(scene, cam, f1, f2):
  """Exact flow frame 1 -> frame 2 and where it is observable."""
  hit = f1["prim"] != SKY
  p2 = f1["p_world"] + scene.vel[f1["prim"]] * (f2["tau"] - f1["tau"])
  # Sky lies at infinity: only the rotation moves it.
  x2 = np.where(hit[..., None], p2 - f2["c"], f1["d"]) @ f2["r"]
  uv2 = cam.project(x2)
  flow_uv = np.stack([uv2[..., 0] - cam.u, uv2[..., 1] - cam.v], -1)
  ui = np.round(uv2[..., 0])
  vi = np.round(uv2[..., 1])
  inside = ((x2[..., 2] > NEAR) & (ui >= 0) & (ui < cam.w) & (vi >= 0) &
            (vi < cam.h))
  ui = np.clip(ui, 0, cam.w - 1).astype(np.int64)
  vi = np.clip(vi, 0, cam.h - 1).astype(np.int64)
  same = f2["prim"][vi, ui] == f1["prim"]
  facing = np.sum(f1["normal"] * (f2["c"] - p2), -1) > 0
  valid = inside & same & (facing | ~hit)
  return flow_uv.astype(np.float32), valid
