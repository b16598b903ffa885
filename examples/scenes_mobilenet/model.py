"""A user's own multi-task network: nothing in it is tfmtl's.

A `keras.applications.MobileNetV3Small` trunk (random init, nothing
downloaded) with three heads that upsample its stride-32 features back to
the input size: depth (1 channel, non-negative), semantic (classes) and
motion (2 classes). tfmtl reads which variables are shared (the trunk) and
which belong to one head from the graph.
"""

import keras


def build(task_names=("depth", "semantic", "motion"), height=64, width=128,
          semantic_classes=5, alpha=0.75):
  """The functional model; `task_names` (passed by train.py) picks heads."""
  trunk = keras.applications.MobileNetV3Small(
      input_shape=(height, width, 3), include_top=False, weights=None,
      alpha=alpha, include_preprocessing=False)
  image = keras.Input((height, width, 3), name="image")
  features = trunk(image)
  channels = {"depth": 1, "semantic": semantic_classes, "motion": 2}
  outputs = {}
  for task in task_names:
    h = keras.layers.Conv2D(32, 1, activation="relu",
                            name=f"{task}_reduce")(features)
    h = keras.layers.UpSampling2D(32, interpolation="bilinear",
                                  name=f"{task}_up")(h)
    h = keras.layers.Conv2D(channels[task], 3, padding="same",
                            name=f"{task}_out")(h)
    if task == "depth":
      h = keras.layers.Activation("softplus", name="depth_positive")(h)
    outputs[task] = h
  return keras.Model(image, outputs, name="mobilenet_heads")
