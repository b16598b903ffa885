r"""Procedural visual odometry: a textured plane seen before and after a
small 6-DoF camera motion, with exact pose and optical-flow labels.

Camera 1 looks at a plane n^T X = d (n ≈ ẑ, tilted at random) covered by a
random multi-octave colour texture, which is frame 1 itself. The camera moves
by X_2 = R X_1 + t with R = R_z(r_z) R_y(r_y) R_x(r_x); points of the plane
then map between the two images by the homography

    H = K (R + t n^T / d) K^{-1},    p_2 ~ H p_1,

so frame 2 is frame 1 warped by H (sampled from a larger texture canvas, so
no black borders) and the forward flow at p_1 is exactly H p_1 − p_1.

Each example: inputs {"frames": [H, W, 6]} (frames 1 and 2, RGB in [0, 1]),
labels "trans" [3] (t), "rot" [3] ((r_x, r_y, r_z) in radians) and "flow"
[H/2, W/2, 2]: the flow at the centres of the half-resolution pixels, in
half-resolution pixels, times `flow_scale` (the reference flow loss clips
its targets to [0, 1], so keep typical magnitudes below 1).

Stands in for KITTI odometry (same input and label layout) until that loader
exists; it is real two-view geometry, so pose and flow are learnable.
"""

from typing import Sequence

import cv2
import numpy as np

from tfmtl.data.source import ArraySource


def _texture(rng, height, width):
  """Smooth random colour texture in [0, 1] (octaves of upsampled noise)."""
  img = np.zeros((height, width, 3), np.float32)
  for cells, amp in ((4, 1.0), (12, 0.5), (36, 0.25), (96, 0.15)):
    h = max(2, height * cells // max(height, width))
    w = max(2, width * cells // max(height, width))
    noise = rng.uniform(-1, 1, (h, w, 3)).astype(np.float32)
    img += amp * cv2.resize(noise, (width, height),
                            interpolation=cv2.INTER_CUBIC)
  img -= img.min()
  return img / max(img.max(), 1e-6)


def _rotation(rx, ry, rz):
  cx, sx, cy, sy, cz, sz = (np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry),
                            np.cos(rz), np.sin(rz))
  r_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
  r_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
  r_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
  return r_z @ r_y @ r_x


def _apply(hom, x, y):
  p = hom @ np.stack([x.ravel(), y.ravel(), np.ones(x.size)])
  return (p[0] / p[2]).reshape(x.shape), (p[1] / p[2]).reshape(x.shape)


def render_pair(rng, height, width, max_rot=0.03,
                max_trans=(0.1, 0.1, 0.3), flow_scale=0.1):
  """One example: (frames [H, W, 6], trans [3], rot [3], flow [H/2, W/2, 2])."""
  f = 0.9 * width
  k = np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]])
  rot = rng.uniform(-max_rot, max_rot, 3)
  trans = rng.uniform(-1, 1, 3) * np.asarray(max_trans)
  normal = np.array([*rng.uniform(-0.3, 0.3, 2), 1.0])
  normal /= np.linalg.norm(normal)
  depth = rng.uniform(3.0, 6.0)
  hom = k @ (_rotation(*rot) + np.outer(trans, normal) / depth) @ np.linalg.inv(k)
  margin = height // 2
  canvas = _texture(rng, height + 2 * margin, width + 2 * margin)
  frame1 = canvas[margin:margin + height, margin:margin + width]
  # Backward warp: frame 2 at p_2 shows frame 1's content at H^{-1} p_2.
  ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
  sx, sy = _apply(np.linalg.inv(hom), xs, ys)
  frame2 = cv2.remap(canvas, (sx + margin).astype(np.float32),
                     (sy + margin).astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)
  # Half-resolution pixel (u, v) covers full pixels 2u, 2u+1: centre 2u + 0.5.
  hv, hu = np.mgrid[0:height // 2, 0:width // 2].astype(np.float64)
  px, py = 2 * hu + 0.5, 2 * hv + 0.5
  qx, qy = _apply(hom, px, py)
  flow = np.stack([qx - px, qy - py], -1) / 2 * flow_scale
  frames = np.concatenate([frame1, frame2], -1)
  return (frames.astype(np.float32), trans.astype(np.float32),
          rot.astype(np.float32), flow.astype(np.float32))


class SyntheticVO(ArraySource):
  """ArraySource whose inputs are {"frames": [B, H, W, 6]}."""

  def dataset(self, *args, **kwargs):
    ds = super().dataset(*args, **kwargs)
    return ds.map(lambda x, y: ({"frames": x}, y))


def synthetic_vo(n: int = 256, height: int = 128, width: int = 320,
                 max_rot: float = 0.03,
                 max_trans: Sequence[float] = (0.1, 0.1, 0.3),
                 flow_scale: float = 0.1,
                 splits: Sequence[float] = (0.8, 0.1, 0.1),
                 seed: int = 0) -> SyntheticVO:
  """n rendered frame pairs (see the module docstring), split 80/10/10."""
  rng = np.random.default_rng(seed)
  frames, trans, rot, flow = zip(*[
      render_pair(rng, height, width, max_rot, max_trans, flow_scale)
      for _ in range(n)])
  labels = {"trans": np.stack(trans), "rot": np.stack(rot),
            "flow": np.stack(flow)}
  return SyntheticVO(np.stack(frames), labels, splits=splits, seed=seed)
