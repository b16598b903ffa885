"""Farneback optical flow with a forward-backward confidence (seed 001 input).

Flow: G. Farnebäck, "Two-Frame Motion Estimation Based on Polynomial
Expansion", SCIA 2003, via `cv2.calcOpticalFlowFarneback` on grey images.
`farneback(frame1, frame2)` returns f on frame 1's grid with
frame1(x) ≈ frame2(x + f(x)).

Confidence: the forward-backward check (Sundaram, Brox, Keutzer, "Dense
point trajectories by GPU-accelerated large displacement optical flow",
ECCV 2010). With b the flow frame2 → frame1,

  e(x) = ‖f(x) + b(x + f(x))‖₂  (b bilinearly sampled),
  confidence(x) = exp(−e(x)² / (2σ²)), σ = 1 px,

and 0 where x + f(x) leaves the image. Consistent flow gives ≈ 1.

File format of the input (one format, read by `tfmtl.data.cityscapes`):
16-bit RGB PNG `{stem}_flow.png` with R = round(64·dx + 2¹⁵),
G = round(64·dy + 2¹⁵) (the KITTI flow encoding, 1/64 px over ±512 px) and
B = round(65535·confidence).

Folders the CLI fills (`python -m tfmtl.data.flow --root DIR --layout L`):
- cityscapes: for every leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png
  with its previous frame leftImg8bit_sequence/.../{city}_{seq}_{frame−1}_
  leftImg8bit.png, the flow labelled → previous frame goes to
  leftImg8bit_flow_farneback_confidence/{split}/{city}/{stem}_flow.png.
- kitti: for sequences/NN/image_2/{i:06d}.png and frame i+1, the flow
  i → i+1 goes to flow_farneback_confidence/NN/{i:06d}.png (same format).
  With `--visualize`, a colour-wheel PNG is written next to each file
  (`*_vis.png`) when `tfmtl.visualize.flow_to_rgb` is available.
"""

import argparse
import glob
import os
import sys

import cv2
import numpy as np

from tfmtl.errors import UserError

CITYSCAPES_FOLDER = "leftImg8bit_flow_farneback_confidence"
KITTI_FOLDER = "flow_farneback_confidence"
SIGMA = 1.0
# (pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags): a
# 3-level pyramid with a 15 px window, OpenCV's documented example values.
FARNEBACK_PARAMS = (0.5, 3, 15, 3, 5, 1.2, 0)
_SCALE, _OFFSET = 64.0, 2.0 ** 15


def _grey(frame):
  frame = np.asarray(frame)
  if frame.ndim == 3:
    frame = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
  if frame.dtype != np.uint8:
    frame = np.clip(np.round(frame * 255.0 if frame.max() <= 1.0 else frame),
                    0, 255).astype(np.uint8)
  return frame


def _sample(field, x, y):
  return cv2.remap(field, x, y, cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_REPLICATE)


def farneback(frame1: np.ndarray, frame2: np.ndarray,
              sigma: float = SIGMA) -> np.ndarray:
  """Flow frame1 → frame2 with confidence.

  Args:
    frame1, frame2: [H, W, 3] RGB or [H, W] grey; uint8, or float in [0, 1].
    sigma: scale (px) of the forward-backward error in the confidence.

  Returns:
    [H, W, 3] float32: dx, dy (pixels, on frame1's grid) and confidence in
    [0, 1] (module doc).
  """
  g1, g2 = _grey(frame1), _grey(frame2)
  if g1.shape != g2.shape:
    raise UserError(f"farneback: frames differ in size: {g1.shape} vs "
                    f"{g2.shape}")
  fwd = cv2.calcOpticalFlowFarneback(g1, g2, None, *FARNEBACK_PARAMS)
  bwd = cv2.calcOpticalFlowFarneback(g2, g1, None, *FARNEBACK_PARAMS)
  h, w = g1.shape
  xs, ys = np.meshgrid(np.arange(w, dtype=np.float32),
                       np.arange(h, dtype=np.float32))
  x2, y2 = xs + fwd[..., 0], ys + fwd[..., 1]
  back = _sample(bwd, x2, y2)
  err2 = np.sum((fwd + back) ** 2, -1)
  conf = np.exp(-err2 / (2 * sigma * sigma))
  inside = (x2 >= 0) & (x2 <= w - 1) & (y2 >= 0) & (y2 <= h - 1)
  conf = np.where(inside, conf, 0.0)
  return np.concatenate([fwd, conf[..., None]], -1).astype(np.float32)


def encode_flow_confidence(fc: np.ndarray) -> np.ndarray:
  """[H, W, 3] (dx, dy, confidence) -> uint16 RGB per the module doc."""
  q = np.clip(np.round(fc[..., :2] * _SCALE + _OFFSET), 0, 65535)
  c = np.clip(np.round(fc[..., 2:] * 65535.0), 0, 65535)
  return np.concatenate([q, c], -1).astype(np.uint16)


def decode_flow_confidence(rgb: np.ndarray) -> np.ndarray:
  """uint16 RGB -> [H, W, 3] float32 (dx, dy, confidence)."""
  rgb = rgb.astype(np.float32)
  return np.concatenate([(rgb[..., :2] - _OFFSET) / _SCALE,
                         rgb[..., 2:] / 65535.0], -1)


def write_flow_confidence(path: str, fc: np.ndarray):
  """Writes the 16-bit flow + confidence PNG."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  if not cv2.imwrite(path, encode_flow_confidence(fc)[..., ::-1]):
    raise UserError(f"{path}: could not write the flow PNG")


def read_flow_confidence(path: str) -> np.ndarray:
  """Reads a file written by `write_flow_confidence`."""
  raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
  if raw is None:
    raise UserError(f"{path}: unreadable or corrupt flow PNG")
  if raw.dtype != np.uint16 or raw.ndim != 3 or raw.shape[-1] != 3:
    raise UserError(f"{path}: a flow + confidence PNG is 16-bit RGB, got "
                    f"{raw.dtype} {raw.shape}")
  return decode_flow_confidence(raw[..., ::-1])


def _read_rgb(path):
  img = cv2.imread(path, cv2.IMREAD_COLOR)
  if img is None:
    raise UserError(f"{path}: unreadable or corrupt image")
  return img[..., ::-1]


def cityscapes_pairs(root: str):
  """(labelled frame, previous frame, output path) of a Cityscapes root."""
  images = sorted(glob.glob(os.path.join(root, "leftImg8bit", "*", "*",
                                         "*_leftImg8bit.png")))
  if not images:
    raise UserError(f"{root}: no leftImg8bit/{{split}}/{{city}}/"
                    "*_leftImg8bit.png images (is --root the Cityscapes "
                    "folder?)")
  out = []
  for img in images:
    split, city = img.split(os.sep)[-3:-1]
    stem = os.path.basename(img)[:-len("_leftImg8bit.png")]
    c, seq, frame = stem.rsplit("_", 2)
    prev = os.path.join(root, "leftImg8bit_sequence", split, city,
                        f"{c}_{seq}_{int(frame) - 1:06d}_leftImg8bit.png")
    if not os.path.exists(prev):
      raise UserError(f"{img}: previous frame {prev} is missing (unzip "
                      "leftImg8bit_sequence into the root)")
    out.append((img, prev, os.path.join(root, CITYSCAPES_FOLDER, split, city,
                                        f"{stem}_flow.png")))
  return out


def kitti_pairs(root: str):
  """(frame i, frame i+1, output path) of a KITTI odometry root."""
  seqs = sorted(glob.glob(os.path.join(root, "sequences", "*", "image_2")))
  if not seqs:
    raise UserError(f"{root}: no sequences/NN/image_2 folders (is --root "
                    "the KITTI odometry folder?)")
  out = []
  for d in seqs:
    name = d.split(os.sep)[-2]
    frames = sorted(glob.glob(os.path.join(d, "*.png")))
    for a, b in zip(frames[:-1], frames[1:]):
      out.append((a, b, os.path.join(root, KITTI_FOLDER, name,
                                     os.path.basename(a))))
  return out


def _flow_to_rgb():
  try:
    from tfmtl.visualize import flow_to_rgb  # pylint: disable=g-import-not-at-top
    return flow_to_rgb
  except ImportError:
    return None


def compute_folder(root: str, layout: str, visualize: bool = False,
                   progress: bool = False) -> int:
  """Computes Farneback flow + confidence for every pair under `root`."""
  if layout not in ("cityscapes", "kitti"):
    raise UserError(f"--layout {layout!r}: use cityscapes or kitti")
  pairs = cityscapes_pairs(root) if layout == "cityscapes" else kitti_pairs(
      root)
  to_rgb = _flow_to_rgb() if visualize else None
  if visualize and to_rgb is None:
    print("note: tfmtl.visualize.flow_to_rgb not available; no *_vis.png",
          file=sys.stderr)
  for k, (a, b, out) in enumerate(pairs):
    fc = farneback(_read_rgb(a), _read_rgb(b))
    write_flow_confidence(out, fc)
    if to_rgb is not None:
      vis = np.asarray(to_rgb(fc[..., :2]))
      if vis.dtype != np.uint8:
        vis = np.clip(np.round(vis * 255), 0, 255).astype(np.uint8)
      cv2.imwrite(out[:-4] + "_vis.png", vis[..., ::-1])
    if progress:
      sys.stderr.write(f"\r{k + 1}/{len(pairs)} pairs")
  if progress:
    sys.stderr.write("\n")
  return len(pairs)


def main(argv=None):
  p = argparse.ArgumentParser(
      prog="python -m tfmtl.data.flow",
      description="Farneback flow + forward-backward confidence for a "
                  "Cityscapes- or KITTI-layout folder.")
  p.add_argument("--root", required=True)
  p.add_argument("--layout", required=True, choices=("cityscapes", "kitti"))
  p.add_argument("--visualize", action="store_true",
                 help="also write colour-wheel *_vis.png images")
  a = p.parse_args(argv)
  try:
    n = compute_folder(a.root, a.layout, a.visualize, progress=True)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"wrote {n} flow files under {a.root}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
