"""Writing one sample (or one drive) in each on-disk layout.

Each function writes one unit of work of `dataset.write_dataset` and returns
the number of frames it wrote; every unit draws from its own seeded stream
(`sample_seed`), so the bytes do not depend on which process writes them or
in what order. All PNGs are written with OpenCV.

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

import json
import os
from typing import Dict

import cv2
import numpy as np

from tfmtl.data import flow as flow_lib
from tfmtl.data import flow_io
from tfmtl.data.scenes.generate import generate_sample, generate_sequence
from tfmtl.data.scenes.geometry import BASELINE, Camera
from tfmtl.data.scenes.street import LABEL_IDS
from tfmtl.errors import UserError

CITYSCAPES_FRAME = 19  # The labelled frame of every Cityscapes snippet.
SAMPLES_PER_CITY = 100
# The scenes' classes as the 13-class ids of the NYUv2 layout.
NYU_CLASSES = tuple(sorted(LABEL_IDS, key=LABEL_IDS.get))
# Stream kinds of `sample_seed`: a layout's samples never share draws.
CITYSCAPES, KITTI, NYUV2 = 0, 1, 2


def sample_seed(seed, kind, index):
  # Each sample has its own stream: results don't depend on scheduling.
  return np.random.SeedSequence([seed, kind, index])


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


def write_cityscapes(root, split, index, local, seed, height, width,
                     farneback, focal_scale):
  """Sample `index` (the `local`-th of `split`) in the Cityscapes layout."""
  s = generate_sample(
      np.random.default_rng(sample_seed(seed, CITYSCAPES, index)),
      height, width, step=-1, focal_scale=focal_scale)
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


def write_nyuv2(root, split, index, local, seed, height, width):
  """Sample `index` (the `local`-th of `split`) in the NYUv2 .npy layout."""
  s = generate_sample(np.random.default_rng(sample_seed(seed, NYUV2, index)),
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


def write_kitti(root, seq, frames, seed, height, width):
  """Sequence `seq`, one drive of `frames` frames, in the KITTI layout."""
  name = f"{seq:02d}"
  seq_dir = os.path.join(root, "sequences", name)
  poses = []
  world_from_0 = None
  for i, fr in enumerate(generate_sequence(
      np.random.default_rng(sample_seed(seed, KITTI, seq)), frames, height,
      width)):
    _imwrite(os.path.join(seq_dir, "image_2", f"{i:06d}.png"), fr["image"])
    if world_from_0 is None:
      world_from_0 = np.linalg.inv(fr["pose_c2w"])
    poses.append((world_from_0 @ fr["pose_c2w"])[:3].ravel())
    if fr["flow"] is not None:
      flow_io.write_flow(os.path.join(root, "flow", name, f"{i:06d}.png"),
                         fr["flow"], fr["flow_valid"])
  cam = Camera(height, width)
  with open(os.path.join(seq_dir, "calib.txt"), "w") as f:
    f.write(kitti_calib(cam.k, BASELINE))
  with open(os.path.join(seq_dir, "times.txt"), "w") as f:
    f.write("".join(f"{0.1 * i:.6e}\n" for i in range(frames)))
  os.makedirs(os.path.join(root, "poses"), exist_ok=True)
  with open(os.path.join(root, "poses", f"{name}.txt"), "w") as f:
    f.write("".join(" ".join(f"{v:.9e}" for v in p) + "\n" for p in poses))
  return frames
