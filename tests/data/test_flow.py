"""Farneback flow + forward-backward confidence."""

import os

import cv2
import numpy as np
import pytest

import tensorflow as tf

from tfmtl.data import flow, scenes
from tfmtl.errors import UserError


def test_recovers_a_known_translation():
  rng = np.random.default_rng(0)
  img = cv2.GaussianBlur(rng.uniform(0, 255, (64, 96)).astype(np.float32),
                         (0, 0), 2)
  img = np.clip((img - img.mean()) * 4 + 128, 0, 255).astype(np.uint8)
  shifted = np.roll(img, (1, 2), axis=(0, 1))  # frame2(x + (2, 1)) = frame1.
  fc = flow.farneback(img, shifted)
  inner = (slice(10, -10), slice(10, -10))
  np.testing.assert_allclose(np.median(fc[inner][..., 0]), 2.0, atol=0.1)
  np.testing.assert_allclose(np.median(fc[inner][..., 1]), 1.0, atol=0.1)
  assert fc[inner][..., 2].mean() > 0.8
  assert fc[..., 2].min() >= 0 and fc[..., 2].max() <= 1


def test_close_to_exact_flow_on_a_generated_pair():
  s = scenes.generate_sample(1, 96, 192)
  fc = flow.farneback(s["image1"], s["image2"])
  # Textured, visible, confidently matched pixels away from the border.
  grey = cv2.cvtColor(s["image1"], cv2.COLOR_RGB2GRAY).astype(np.float32)
  gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
  textured = np.hypot(gx, gy) > 20
  m = s["flow_valid"] & textured & (fc[..., 2] > 0.5)
  m[:8] = m[-8:] = False
  m[:, :8] = m[:, -8:] = False
  assert m.mean() > 0.1
  epe = np.linalg.norm(fc[..., :2] - s["flow"], axis=-1)
  zero = np.linalg.norm(s["flow"], axis=-1)
  assert np.median(epe[m]) < 0.5, np.median(epe[m])
  assert np.median(epe[m]) < 0.3 * np.median(zero[m])
  # Confidence ranks: confident pixels are more accurate than the rest.
  unsure = s["flow_valid"] & (fc[..., 2] < 0.2)
  if unsure.sum() > 20:
    assert np.median(epe[unsure]) > np.median(epe[m])


def test_png_round_trip_numpy_and_tensorflow(tmp_path):
  rng = np.random.default_rng(0)
  # Values ≥ 0.1 steps from a rounding midpoint (float32 moves them by
  # ≤ 0.002 steps in the encoder): each must come back as its grid point,
  # bit for bit.
  steps = np.concatenate([rng.integers(-30 * 64, 30 * 64, (8, 12, 2)),
                          rng.integers(0, 65536, (8, 12, 1))], -1)
  offset = rng.uniform(-0.4, 0.4, steps.shape)
  scale = np.array([64.0, 64.0, 65535.0])
  fc = ((steps + offset) / scale).astype(np.float32)
  fc[..., 2] = np.clip(fc[..., 2], 0, 1)
  path = str(tmp_path / "a_flow.png")
  flow.write_flow_confidence(path, fc)
  back = flow.read_flow_confidence(path)
  np.testing.assert_array_equal(back[..., :2],
                                steps[..., :2].astype(np.float32) / 64)
  np.testing.assert_array_equal(
      back[..., 2], np.float32(steps[..., 2]) / np.float32(65535))
  # tf.data readers decode the same PNG natively (RGB order, 16 bit).
  raw = tf.io.decode_png(tf.io.read_file(path), dtype=tf.uint16).numpy()
  np.testing.assert_array_equal(flow.decode_flow_confidence(raw), back)


def test_cli_fills_both_layouts(tmp_path):
  root = str(tmp_path)
  scenes.write_dataset(root, 2, 32, 64, layouts=("cityscapes", "kitti"),
                       kitti_sequences=1, farneback=False,
                       splits=(("train", 1.0),))
  assert flow.main(["--root", os.path.join(root, "cityscapes"),
                    "--layout", "cityscapes"]) == 0
  out = os.path.join(root, "cityscapes", flow.CITYSCAPES_FOLDER, "train",
                     "synth00", "synth00_000001_000019_flow.png")
  assert flow.read_flow_confidence(out).shape == (32, 64, 3)
  assert flow.main(["--root", os.path.join(root, "kitti"),
                    "--layout", "kitti"]) == 0
  assert os.path.exists(os.path.join(root, "kitti", flow.KITTI_FOLDER, "00",
                                     "000000.png"))
  assert flow.main(["--root", str(tmp_path / "nothing"),
                    "--layout", "kitti"]) == 2


def test_mismatched_frames_raise():
  with pytest.raises(UserError, match="differ in size"):
    flow.farneback(np.zeros((8, 8), np.uint8), np.zeros((8, 9), np.uint8))
