"""Export of a trained network: SavedModel, serving signature, LiteRT.

  saved_model  the network as is: float inputs in, raw outputs (logits) out
               (`export_saved_model`, what `Trainer.export` writes)
  serving      what a consumer calls: raw uint8 images in, the
               preprocessing inside, per-task post-processed outputs out
               (`export_serving`, what `eval.py --export_dir` writes)
  litert       the serving function as a LiteRT (.tflite) flat buffer,
               float32 or full-integer int8 (`litert.convert`)
  onnx         the serving function as ONNX (`onnx.convert`; the `onnx`
               extra)
  formats      `eval.py --export_formats`: one artefact per format

Every export is written next to its target and renamed into place, so a
failure leaves nothing half-written.
"""

from tfmtl.export.saved_model import (  # noqa: F401  (the package's API)
    check_target, export_saved_model, input_name, input_signature,
    model_input_spec, signature_inputs, write_endpoint)
from tfmtl.export.serving import (  # noqa: F401
    export_serving, image_inputs, postprocess, preprocess, serving_function)
