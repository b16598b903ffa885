"""Samples and drives with exact ground truth, as numpy arrays in memory."""

from typing import Dict, Sequence, Union

import numpy as np

from tfmtl.data.scenes import render
from tfmtl.data.scenes.geometry import (BASELINE, Camera, Trajectory,
                                        euler_from_matrix, relative_pose)
from tfmtl.data.scenes.street import GROUND, LABEL_IDS, SKY, build_scene
from tfmtl.errors import UserError


def _rng(rng_or_seed):
  if isinstance(rng_or_seed, np.random.Generator):
    return rng_or_seed
  return np.random.default_rng(rng_or_seed)


def check_size(height, width):
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
    pose [4, 4] camera 2 in camera 1, trans [3], rot [3] (see `geometry`);
    intrinsics [3, 3]; baseline, camera_height (scalars).
  """
  check_size(height, width)
  rng = _rng(rng_or_seed)
  traj = Trajectory(rng, tau0=rng.uniform(0, 100))
  scene = build_scene(rng, -5.0, 60.0, traj.speed, 2)
  cam = Camera(height, width, focal_scale)
  f1 = render.render(scene, cam, traj(0.0), 0.0)
  f2 = render.render(scene, cam, traj(float(step)), float(step))
  return _ground_truth(scene, cam, f1, f2)


def _ground_truth(scene, cam, f1, f2):
  flow, valid = render.flow(scene, cam, f1, f2)
  hit = f1["prim"] != SKY
  depth = np.where(hit, f1["t"], 0.0)
  with np.errstate(divide="ignore"):
    disparity = np.where(hit, BASELINE * cam.f / np.where(hit, depth, 1), 0.0)
  semantic = scene.label[f1["prim"]].copy()
  ground = f1["prim"] == GROUND
  gclass = render.ground_class(scene, f1["p_world"][..., 0])
  ground_ids = np.array([LABEL_IDS["road"], LABEL_IDS["sidewalk"],
                         LABEL_IDS["terrain"]], np.uint8)
  semantic[ground] = ground_ids[gclass[ground]]
  pose = relative_pose((f1["r"], f1["c"]), (f2["r"], f2["c"]))
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
  check_size(height, width)
  if num_frames < 1:
    raise UserError(f"scenes: a sequence needs at least 1 frame, got "
                    f"{num_frames}")
  rng = _rng(rng_or_seed)
  traj = Trajectory(rng, tau0=rng.uniform(0, 100))
  z_max = traj.speed * num_frames + 60.0
  scene = build_scene(rng, -5.0, z_max, traj.speed, num_frames)
  cam = Camera(height, width)
  cur = render.render(scene, cam, traj(0.0), 0.0)
  for i in range(num_frames):
    nxt = (render.render(scene, cam, traj(float(i + 1)), float(i + 1))
           if i + 1 < num_frames else None)
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = cur["r"], cur["c"]
    out = {"image": cur["image"], "pose_c2w": pose, "flow": None,
           "flow_valid": None}
    if nxt is not None:
      out["flow"], out["flow_valid"] = render.flow(scene, cam, cur, nxt)
    yield out
    cur = nxt
