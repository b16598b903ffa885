"""Flow files round-trip through each format; bad files fail by name."""

import numpy as np
import pytest

from tfmtl.data import flow_io
from tfmtl.errors import UserError

from tests.helpers import FLOW_PNG_SLACK, assert_on_grid


def _flow(h=16, w=32, seed=0):
  rng = np.random.default_rng(seed)
  flow = rng.uniform(-40, 40, (h, w, 2)).astype(np.float32)
  valid = rng.uniform(size=(h, w)) > 0.2
  return flow, valid


@pytest.mark.parametrize("ext", [".flo", ".npy", ".png"])
def test_round_trip(tmp_path, ext):
  flow, valid = _flow()
  path = tmp_path / f"f{ext}"
  flow_io.write_flow(path, flow, valid)
  got, got_valid = flow_io.read_flow(path)
  assert got.shape == (16, 32, 2) and got.dtype == np.float32
  np.testing.assert_array_equal(got_valid, valid)
  if ext == ".png":  # KITTI quantises to 1/64 px: the nearest grid point
    assert_on_grid(got[valid], flow[valid], 1 / 64, FLOW_PNG_SLACK)
  else:
    np.testing.assert_array_equal(got[valid], flow[valid])
  assert np.all(got[~valid] == 0)


def test_kitti_png_is_16_bit_with_offset(tmp_path):
  import cv2
  flow = np.zeros((2, 3, 2), np.float32)
  flow[0, 0] = (1.0, -0.5)
  flow_io.write_flow(tmp_path / "f.png", flow)
  raw = cv2.imread(str(tmp_path / "f.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
  assert raw.dtype == np.uint16
  # KITTI devkit: u = (R − 2^15)/64.
  assert tuple(raw[0, 0]) == (32768 + 64, 32768 - 32, 1)


def test_flo_header(tmp_path):
  flow, _ = _flow(3, 5)
  flow_io.write_flow(tmp_path / "f.flo", flow)
  data = (tmp_path / "f.flo").read_bytes()
  assert data[:4] == b"PIEH"
  assert np.frombuffer(data[4:12], "<i4").tolist() == [5, 3]


def test_bad_files_name_the_file(tmp_path):
  bad = tmp_path / "bad.png"
  bad.write_bytes(b"not a png")
  with pytest.raises(UserError, match="bad.png"):
    flow_io.read_flow(bad)
  trunc = tmp_path / "t.flo"
  flow_io.write_flow(trunc, _flow(4, 4)[0])
  trunc.write_bytes(trunc.read_bytes()[:-8])
  with pytest.raises(UserError, match="t.flo"):
    flow_io.read_flow(trunc)
  with pytest.raises(UserError, match="unknown flow format"):
    flow_io.read_flow(tmp_path / "x.jpg")
  with pytest.raises(UserError, match="not found"):
    flow_io.read_flow(tmp_path / "missing.npy")
