"""TensorFlow's start-up noise kept off a command line's stderr.

Importing TensorFlow and probing its devices prints, from C++ before any
logging setting applies (TF_CPP_MIN_LOG_LEVEL does not reach them):

  WARNING: All log messages before absl::InitializeLog() is called ...
  I0000 ... port.cc] oneDNN custom operations are on ...
  I0000 ... cudart_stub.cc] Could not find cuda drivers on your machine ...
  E0000 ... cuda_platform.cc] failed call to cuInit: ... UNKNOWN ERROR (303)

`import_tensorflow()` does both with stderr (file descriptor 2) sent to a
temporary file, then writes back every line that is not that noise: INFO
lines (unless TF_CPP_MIN_LOG_LEVEL=0 asks for them) and the CUDA probe's
complaints on a machine with no NVIDIA device. Warnings and errors of any
other kind, and everything after start-up, reach stderr as they are.
"""

import contextlib
import os
import re
import sys
import tempfile

_ABSL_PREINIT = "All log messages before absl::InitializeLog() is called"
_INFO = re.compile(r"^I\d{4} ")
_CUDA = re.compile(r"cuda_platform\.cc|cudart_stub\.cc|cuInit|cuda_drivers|"
                   r"Could not find cuda drivers|Unable to register cu(DNN|FFT|"
                   r"BLAS) factory|TF-TRT Warning|computation_placer\.cc")
_CPU_GUARD = re.compile(r"cpu_feature_guard|^To enable the following "
                        r"instructions|rebuild TensorFlow with the "
                        r"appropriate compiler flags")


def has_gpu_device() -> bool:
  """An NVIDIA device node is present (the CUDA probe's errors then
  matter)."""
  return any(os.path.exists(p) for p in ("/dev/nvidia0", "/dev/nvidiactl"))


def is_noise(line: str, gpu: bool, show_info: bool) -> bool:
  if _ABSL_PREINIT in line:
    return True
  if _CPU_GUARD.search(line):
    return not show_info
  if _INFO.match(line) and not show_info:
    return True
  return bool(_CUDA.search(line)) and not gpu


@contextlib.contextmanager
def filtered_stderr():
  """Within: native stderr goes to a file; after: its non-noise lines are
  written to stderr."""
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile(mode="w+b") as tmp:
    os.dup2(tmp.fileno(), 2)
    try:
      yield
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      tmp.seek(0)
      text = tmp.read().decode("utf-8", "replace")
      gpu = has_gpu_device()
      show_info = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "") == "0"
      kept = [l for l in text.splitlines()
              if l.strip() and not is_noise(l, gpu, show_info)]
      if kept:
        sys.stderr.write("\n".join(kept) + "\n")
        sys.stderr.flush()


def import_tensorflow():
  """`import tensorflow` and its device probe, without the noise."""
  with filtered_stderr():
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tf.config.list_physical_devices()
  return tf
