"""Hard parameter sharing MLP: one shared trunk, one tower per task.

Covers both toy problems:
- seed 003 (GradNorm on correlated regression): trunk Dense 64 + ReLU +
  Dropout; towers 32 -> 16 -> 1, each hidden Dense + ReLU + Dropout.
- Chen et al. 2018 §4 (GradNorm toy): a 4-layer ReLU trunk of 100 units and
  one affine head of 100 outputs per task (`tower_units=()`).
"""

from typing import Sequence

import keras

from tfmtl.models.base import MultiTaskModel


class HardSharingMLP(MultiTaskModel):
  """Shared MLP trunk with a per-task MLP tower.

  Args:
    task_names: output names, one tower each.
    output_dim: units of each tower's last (linear) Dense.
    trunk_units: hidden sizes of the shared trunk (ReLU).
    tower_units: hidden sizes of each tower before its linear output.
    dropout: dropout rate after every hidden layer (0 disables).
    seed: seed of the initialisers, so two models built with the same seed
      start from the same weights.
  """

  def __init__(self, task_names: Sequence[str], output_dim: int = 1,
               trunk_units: Sequence[int] = (64,),
               tower_units: Sequence[int] = (32, 16), dropout: float = 0.5,
               seed: int = 0, **kwargs):
    super().__init__(**kwargs)
    self._config = dict(task_names=list(task_names), output_dim=output_dim,
                        trunk_units=list(trunk_units),
                        tower_units=list(tower_units), dropout=dropout,
                        seed=seed)
    # === Layers ===
    seeds = iter(range(seed * 1000, seed * 1000 + 1000))

    def dense(units, name, activation=None):
      return keras.layers.Dense(
          units, activation=activation, name=name,
          kernel_initializer=keras.initializers.GlorotUniform(next(seeds)))

    self.trunk = [dense(u, f"shared_dense_{i}", "relu")
                  for i, u in enumerate(trunk_units)]
    self.trunk_dropout = [keras.layers.Dropout(dropout, seed=next(seeds))
                          for _ in trunk_units]
    self.towers = {}
    for name in task_names:
      layers = [dense(u, f"{name}_dense_{i}", "relu")
                for i, u in enumerate(tower_units)]
      layers.append(dense(output_dim, f"{name}_out"))
      self.towers[name] = layers
    self.tower_dropout = keras.layers.Dropout(dropout, seed=next(seeds))
    self._register(shared=self.trunk, per_task=self.towers)

  def call_split(self, inputs, training=False):
    h = inputs
    for dense, drop in zip(self.trunk, self.trunk_dropout):
      h = dense(h)
      if self._config["dropout"]:
        h = drop(h, training=training)

    def heads(z):
      out = {}
      for name, layers in self.towers.items():
        t = z
        for layer in layers[:-1]:
          t = layer(t)
          if self._config["dropout"]:
            t = self.tower_dropout(t, training=training)
        out[name] = layers[-1](t)
      return out
    return h, heads

  # === Config ===
  def get_config(self):
    config = super().get_config()
    config.update(self._config)
    return config
