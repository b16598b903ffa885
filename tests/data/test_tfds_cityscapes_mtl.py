"""The `cityscapes_mtl` TFDS builder builds from a manual_dir fixture."""

import numpy as np
import pytest

tfds = pytest.importorskip("tensorflow_datasets")

from tfmtl.data import cityscapes  # noqa: E402
from tfmtl.data import tfds_cityscapes_mtl  # noqa: E402,F401
from tests.data.test_cityscapes import BASELINE, FX, write_tiny  # noqa: E402
from tests.helpers import (CONFIDENCE_RTOL, FLOW_PNG_SLACK,  # noqa: E402
                           assert_on_grid)


def test_builds_and_keeps_16_bit_disparity(tmp_path):
  manual = tmp_path / "manual"
  exs = write_tiny(manual, n=2, split="train")
  write_tiny(manual, n=1, split="val", seed=1)
  builder = tfds.builder("cityscapes_mtl/all", data_dir=str(tmp_path / "data"))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))
  assert builder.info.splits["train"].num_examples == 2
  assert builder.info.splits["validation"].num_examples == 1
  assert builder.info.features["disparity"].dtype == np.uint16
  got = {ex["image_id"].decode(): ex for ex in tfds.as_numpy(
      builder.as_dataset(split="train"))}
  ex = got["aachen_000000_000000"]
  want = exs[0]
  assert ex["disparity"].dtype == np.uint16
  np.testing.assert_array_equal(ex["disparity"][..., 0], want["disparity"])
  assert want["disparity"].max() > 255  # really exercised 16 bits
  np.testing.assert_array_equal(ex["image"], want["image"])
  np.testing.assert_array_equal(ex["label"][..., 0], want["label_ids"])
  np.testing.assert_array_equal(ex["motion"][..., 0], want["motion"])
  np.testing.assert_allclose(ex["camera"]["baseline"], BASELINE, rtol=1e-6)
  np.testing.assert_allclose(ex["camera"]["fx"], FX, rtol=1e-6)
  flow = cityscapes.decode_flow_png(ex["flow"])
  assert_on_grid(flow[..., :2], want["flow"][..., :2], 1 / 64, FLOW_PNG_SLACK)
  assert_on_grid(flow[..., 2], want["flow"][..., 2], 1 / 65535,
                 FLOW_PNG_SLACK, rtol=CONFIDENCE_RTOL)
