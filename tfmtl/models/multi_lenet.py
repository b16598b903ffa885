"""MultiLeNet: the MultiMNIST network of Sener & Koltun (NeurIPS 2018).

"Multi-Task Learning as Multi-Objective Optimization", §6.1 and their
`multi_lenet.py` (MultiLeNetR / MultiLeNetO). Shared encoder on a [28, 28, 1]
image, one classifier per task (hard sharing):

    z   = ReLU(W_fc · flat(ReLU(pool(drop(conv₂(ReLU(pool(conv₁ x))))))))
    ŷᵗ  = W₂ᵗ · drop(ReLU(W₁ᵗ z))            (logits, 10 classes)

conv₁: 10 filters 5×5, conv₂: 20 filters 5×5 (valid padding), 2×2 max-pools,
W_fc: 320 → 50, W₁ᵗ: 50 → 50, W₂ᵗ: 50 → classes. 21,330 shared parameters
and 3,060 per 10-class task.

Shared: the two convs and W_fc. Task-specific: each head's two Dense layers.
`call_split` gives z (the 50-d shared representation).

Differences from the reference code and why:
- Dropout is Keras' inverted dropout (kept units scaled by 1/(1−p) in
  training, nothing at test). The reference multiplies by a Bernoulli(½)
  mask without rescaling, so its test-time activations are twice the
  training ones, and draws one conv-channel mask for the whole batch; here
  each example draws its own channel mask (SpatialDropout2D) and unit mask.
- Outputs are logits (tfmtl's `sparse_ce` applies the softmax); the
  reference returns log-softmax for an NLL loss — the same loss.
"""

from typing import Mapping, Optional, Sequence

import keras

from tfmtl.models import layers as L
from tfmtl.models.base import MultiTaskModel


class MultiLeNet(L.LazyBuild, MultiTaskModel):
  """Sener & Koltun's MultiLeNet: LeNet encoder, one MLP classifier a task.

  Args:
    tasks: {task: classes} (or a list of names with `num_classes` each).
    task_names: the builder's task names (alternative to `tasks`).
    num_classes: classes of tasks named without a count.
    dropout: rate of the conv₂ channel dropout and of the heads' dropout.
    latent: width of the shared representation z (50 in the paper).
    seed: initialiser and dropout seed.
  """

  def __init__(self, tasks: Optional[Mapping[str, int]] = None,
               task_names: Optional[Sequence[str]] = None,
               num_classes: int = 10, dropout: float = 0.5, latent: int = 50,
               seed: int = 0, **kwargs):
    super().__init__(**kwargs)
    names = tasks if tasks is not None else task_names
    tasks = L.resolve_tasks(tasks, task_names,
                            defaults={t: num_classes for t in names or []})
    self._config = dict(tasks=tasks, num_classes=int(num_classes),
                        dropout=float(dropout), latent=int(latent),
                        seed=int(seed))
    # === Layers ===
    seeds = iter(range(seed * 1000, seed * 1000 + 1000))
    init = lambda: keras.initializers.GlorotUniform(next(seeds))
    self.conv1 = keras.layers.Conv2D(10, 5, kernel_initializer=init(),
                                     name="conv1")
    self.conv2 = keras.layers.Conv2D(20, 5, kernel_initializer=init(),
                                     name="conv2")
    self.conv2_drop = keras.layers.SpatialDropout2D(dropout, seed=next(seeds))
    self.fc = keras.layers.Dense(latent, activation="relu",
                                 kernel_initializer=init(), name="fc")
    self.heads = {
        t: [keras.layers.Dense(latent, activation="relu",
                               kernel_initializer=init(), name=f"{t}_fc1"),
            keras.layers.Dropout(dropout, seed=next(seeds)),
            keras.layers.Dense(c, kernel_initializer=init(), name=f"{t}_fc2")]
        for t, c in tasks.items()}
    self._register(shared=[self.conv1, self.conv2, self.fc],
                   per_task=self.heads)

  def call_split(self, inputs, training=False):
    x = L.image_of(inputs)
    h = keras.ops.relu(keras.ops.max_pool(self.conv1(x), 2))
    h = self.conv2_drop(self.conv2(h), training=training)
    h = keras.ops.relu(keras.ops.max_pool(h, 2))
    z = self.fc(keras.ops.reshape(h, (-1, h.shape[1] * h.shape[2] *
                                      h.shape[3])))

    def heads(z):
      out = {}
      for t, (fc1, drop, fc2) in self.heads.items():
        out[t] = fc2(drop(fc1(z), training=training))
      return out
    return z, heads

  # === Config ===
  def get_config(self):
    config = super().get_config()
    config.update(self._config)
    return config
