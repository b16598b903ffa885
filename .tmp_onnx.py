import numpy as np, tensorflow as tf, tempfile, os, time
from tests import test_export as t
import tf2onnx, onnxruntime as ort
m = t._model()
fn, specs = t.export.serving_function(m, t.SPEC, t.KINDS, logits=True)
tfn = tf.function(fn)
t0 = time.time()
proto, _ = tf2onnx.convert.from_function(tfn, input_signature=[specs], opset=17)
print("conv", time.time()-t0)
sess = ort.InferenceSession(proto.SerializeToString())
print([i.name for i in sess.get_inputs()], [o.name for o in sess.get_outputs()])
