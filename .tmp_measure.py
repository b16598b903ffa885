import numpy as np, tensorflow as tf
from tfmtl import evaluation
from tfmtl.export import litert, onnx, saved_model
cfg, _ = evaluation.run_config("/tmp/wexp")
exp, step = evaluation._restore(cfg, "/tmp/wexp")
spec = evaluation._input_spec(exp)
kinds = evaluation.task_kinds(exp.model, exp.tasks, exp.source, "test", None)
x, y = next(iter(exp.source.dataset("test", 8, drop_remainder=False)))[:2]
feeds = {"image": np.round(x["image"].numpy() * 255).astype(np.uint8), "flow": x["flow"].numpy()}
keras_out = exp.model({"image": tf.constant(feeds["image"], tf.float32) / 255.0, "flow": x["flow"]}, training=False)
runners = {"tflite": litert.Runner("/tmp/wexp/export/model.tflite"),
           "tflite_int8": litert.Runner("/tmp/wexp/export/model_int8.tflite"),
           "onnx": onnx.Runner(onnx.convert(exp.model, spec, kinds))}
for name, r in runners.items():
  out = r(**feeds)
  for t, v in keras_out.items():
    v = v.numpy(); d = np.abs(out[t + "_logits"] - v).max()
    print(f"{name} {t}: max|diff| {d:.3g}  rel {d / np.abs(v).max():.3g}")
