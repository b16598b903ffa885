"""tfmtl.quiet: TensorFlow's start-up noise off stderr, real lines kept."""

import os
import subprocess
import sys

from tfmtl import quiet

NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are "
    "written to STDERR",
    "I0000 00:00:1796631631.666494    2108 port.cc:153] oneDNN custom "
    "operations are on.",
    "I0000 00:00:1796631631.666859    2108 cudart_stub.cc:31] Could not find "
    "cuda drivers on your machine, GPU will not be used.",
    "E0000 00:00:1796631635.487939    2108 cuda_platform.cc:52] failed call "
    "to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR "
    "(303)",
]
REAL = ["E0000 00:00:1.0  1 op_kernel.cc:1] OOM when allocating tensor",
        "W0000 00:00:1.0  1 loader.cc:9] could not open file x.pb",
        "error: config.steps = -1 must be >= 0"]


def test_noise_is_dropped_and_errors_kept():
  for line in NOISE:
    assert quiet.is_noise(line, gpu=False, show_info=False), line
  for line in REAL:
    assert not quiet.is_noise(line, gpu=False, show_info=False), line
  # On a GPU machine the CUDA probe's error is real; INFO on request.
  assert not quiet.is_noise(NOISE[3], gpu=True, show_info=False)
  assert not quiet.is_noise(NOISE[1], gpu=False, show_info=True)


def test_filtered_stderr_passes_real_lines_of_native_code():
  code = ("import os; from tfmtl import quiet\n"
          "with quiet.filtered_stderr():\n"
          f"  os.write(2, {(NOISE[0] + chr(10) + REAL[0] + chr(10)).encode()!r})\n")
  err = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, check=True, env={**os.environ,
                                                   "PYTHONPATH": "."}).stderr
  assert err.strip() == REAL[0]
