"""Optical-flow files: read and write by extension.

Formats:
- `.flo`: Middlebury (Baker et al., "A Database and Evaluation Methodology
  for Optical Flow", IJCV 2011): the float32 tag 202021.25 ("PIEH"), int32
  width, int32 height, then H·W·2 little-endian float32 (u, v interleaved).
  Unknown flow is stored as |u| or |v| ≥ 1e9, read as valid = False.
- `.png`: KITTI flow (Geiger et al., KITTI 2012/2015 devkit): 16-bit RGB,
  u = (R − 2¹⁵)/64, v = (G − 2¹⁵)/64, B = 1 where the flow is valid.
- `.npy`: float32 [H, W, 2], or [H, W, 3] whose third channel is validity
  (or confidence, read as valid where > 0).

Every reader returns `(flow [H, W, 2] float32, valid [H, W] bool)`.
"""

import os
from typing import Optional, Tuple

import cv2
import numpy as np

from tfmtl.errors import UserError

FLO_TAG = 202021.25
FLO_UNKNOWN = 1e9  # Middlebury: |u| or |v| above this means "no flow".
_KITTI_OFFSET = 2.0 ** 15
_KITTI_SCALE = 64.0
FORMATS = (".flo", ".png", ".npy")


def _ext(path) -> str:
  ext = os.path.splitext(str(path))[1].lower()
  if ext not in FORMATS:
    raise UserError(f"{path}: unknown flow format {ext!r}; use one of "
                    f"{', '.join(FORMATS)}")
  return ext


def read_flow(path) -> Tuple[np.ndarray, np.ndarray]:
  """Reads a flow file; the format comes from the extension.

  Args:
    path: a `.flo`, `.png` (KITTI 16-bit) or `.npy` file.

  Returns:
    (flow [H, W, 2] float32 in pixels, valid [H, W] bool).

  Raises:
    UserError: missing, truncated or wrongly formatted file.
  """
  ext = _ext(path)
  if not os.path.exists(path):
    raise UserError(f"{path}: flow file not found")
  if ext == ".flo":
    return _read_flo(path)
  if ext == ".png":
    return _read_kitti_png(path)
  return _read_npy(path)


def write_flow(path, flow: np.ndarray, valid: Optional[np.ndarray] = None):
  """Writes `flow` [H, W, 2] (and its validity) in the format of `path`.

  Args:
    path: destination; `.flo`, `.png` or `.npy`.
    flow: [H, W, 2] pixels (u = x displacement, v = y displacement).
    valid: optional [H, W] bool; None means all valid. `.flo` stores invalid
      pixels as the Middlebury unknown value, `.png` as B = 0, `.npy` as a
      third channel.
  """
  ext = _ext(path)
  flow = np.asarray(flow, np.float32)
  if flow.ndim != 3 or flow.shape[-1] != 2:
    raise UserError(f"{path}: flow must be [H, W, 2], got {flow.shape}")
  valid = (np.ones(flow.shape[:2], bool) if valid is None
           else np.asarray(valid, bool))
  d = os.path.dirname(str(path))
  if d:
    os.makedirs(d, exist_ok=True)
  if ext == ".flo":
    out = np.where(valid[..., None], flow, np.float32(2 * FLO_UNKNOWN))
    h, w = flow.shape[:2]
    with open(path, "wb") as f:
      np.array([FLO_TAG], "<f4").tofile(f)
      np.array([w, h], "<i4").tofile(f)
      out.astype("<f4").tofile(f)
  elif ext == ".png":
    # KITTI keeps 1/64 px precision over ±512 px; clip so uint16 can't wrap.
    q = np.clip(np.round(flow * _KITTI_SCALE + _KITTI_OFFSET), 0, 65535)
    rgb = np.concatenate([q, valid[..., None].astype(np.float64)], axis=-1)
    rgb = np.where(valid[..., None], rgb, 0).astype(np.uint16)
    if not cv2.imwrite(str(path), rgb[..., ::-1]):  # cv2 is BGR.
      raise UserError(f"{path}: could not write the flow PNG")
  else:
    np.save(path, np.concatenate(
        [flow, valid[..., None].astype(np.float32)], axis=-1))


def _read_flo(path):
  with open(path, "rb") as f:
    data = f.read()
  if len(data) < 12:
    raise UserError(f"{path}: truncated .flo file (no header)")
  tag = np.frombuffer(data[:4], "<f4")[0]
  if tag != np.float32(FLO_TAG):
    raise UserError(f"{path}: not a Middlebury .flo file (tag {tag!r})")
  w, h = np.frombuffer(data[4:12], "<i4")
  body = np.frombuffer(data[12:], "<f4")
  if w <= 0 or h <= 0 or body.size != int(w) * int(h) * 2:
    raise UserError(f"{path}: .flo header says {w}x{h} but holds "
                    f"{body.size} floats")
  flow = body.reshape(int(h), int(w), 2).copy()
  valid = np.all(np.abs(flow) < FLO_UNKNOWN, axis=-1)
  flow[~valid] = 0.0
  return flow, valid


def _read_kitti_png(path):
  raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
  if raw is None:
    raise UserError(f"{path}: unreadable or corrupt PNG")
  if raw.dtype != np.uint16 or raw.ndim != 3 or raw.shape[-1] != 3:
    raise UserError(f"{path}: a KITTI flow PNG must be 16-bit with 3 "
                    f"channels, got {raw.dtype} {raw.shape}")
  rgb = raw[..., ::-1].astype(np.float32)
  valid = rgb[..., 2] > 0
  flow = (rgb[..., :2] - _KITTI_OFFSET) / _KITTI_SCALE
  flow[~valid] = 0.0
  return flow.astype(np.float32), valid


def _read_npy(path):
  try:
    arr = np.load(path)
  except (ValueError, OSError) as e:
    raise UserError(f"{path}: unreadable .npy flow ({e})") from None
  if arr.ndim != 3 or arr.shape[-1] not in (2, 3):
    raise UserError(f"{path}: a .npy flow must be [H, W, 2] or [H, W, 3], "
                    f"got {arr.shape}")
  flow = arr[..., :2].astype(np.float32)
  valid = (arr[..., 2] > 0 if arr.shape[-1] == 3
           else np.all(np.isfinite(flow), axis=-1))
  flow = np.where(valid[..., None], flow, 0.0).astype(np.float32)
  return flow, valid
