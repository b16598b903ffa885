"""What the mixture-of-experts models share: experts, gates, towers.

An expert is any Keras layer mapping the input (or a level's vector) to a
[B, d] vector; `make_expert` builds one by name ("mlp", "lenet") or calls a
factory the user gives. A softmax gate maps its input, flattened, to
weights over E experts, g(x) = softmax(W x + b), and `mix` combines the
experts' outputs f_e as Σ_e g_e(x) f_e(x). A tower maps a mixed vector to a
task's logits (ReLU Dense layers, then a linear Dense to the task's
classes).

The models (mmoe.py, cgc.py, ple.py, dselect_k.py) follow LibMTL's
`LibMTL/architecture` and DeepCTR's `deepctr/models/multitask`: gates read
the raw input flattened (LibMTL; DeepCTR's gates read the same input as
the experts), outputs are [B, classes] logits per task.
"""

from typing import Callable, Mapping, Optional, Sequence, Union

import keras
import tensorflow as tf

from tfmtl.errors import UserError
from tfmtl.models import layers as L
from tfmtl.models.base import MultiTaskModel


def flat(x):
  """[B, ...] → [B, prod(...)] (static size when known)."""
  size = 1
  for s in x.shape[1:]:
    size *= s
  return keras.ops.reshape(x, (-1, size))


def mix(weights, experts):
  """Σ_e w[b, e] · experts[b, e, :] for weights [B, E], experts [B, E, d]."""
  return tf.einsum("be,bed->bd", weights, experts)


class MLPExpert(L.LazyBuild, keras.layers.Layer):
  """Flatten, then Dense + ReLU layers of `units` (the vector expert).

  Args:
    units: widths of the layers; the last is the expert's output size d.
    seed: initialiser seed.
  """

  def __init__(self, units: Sequence[int] = (64,), seed: int = 0, **kwargs):
    super().__init__(**kwargs)
    self.units, self.seed = [int(u) for u in units], int(seed)
    self.dense = [keras.layers.Dense(
        u, activation="relu", name=f"dense{i}",
        kernel_initializer=keras.initializers.GlorotUniform(seed + i))
                  for i, u in enumerate(self.units)]

  def call(self, x):
    h = flat(x)
    for d in self.dense:
      h = d(h)
    return h

  def get_config(self):
    return {**super().get_config(), "units": self.units, "seed": self.seed}


class LeNetExpert(L.LazyBuild, keras.layers.Layer):
  """MultiLeNet's encoder as an expert: conv 5×5 (10) → pool → ReLU →
  conv 5×5 (20) → pool → ReLU → Dense `latent` + ReLU (no dropout).

  Args:
    latent: output size d (50 in Sener & Koltun).
    seed: initialiser seed.
  """

  def __init__(self, latent: int = 50, seed: int = 0, **kwargs):
    super().__init__(**kwargs)
    self.latent, self.seed = int(latent), int(seed)
    init = lambda i: keras.initializers.GlorotUniform(seed + i)
    self.conv1 = keras.layers.Conv2D(10, 5, kernel_initializer=init(0),
                                     name="conv1")
    self.conv2 = keras.layers.Conv2D(20, 5, kernel_initializer=init(1),
                                     name="conv2")
    self.fc = keras.layers.Dense(self.latent, activation="relu",
                                 kernel_initializer=init(2), name="fc")

  def call(self, x):
    h = keras.ops.relu(keras.ops.max_pool(self.conv1(L.image_of(x)), 2))
    h = keras.ops.relu(keras.ops.max_pool(self.conv2(h), 2))
    return self.fc(flat(h))

  def get_config(self):
    return {**super().get_config(), "latent": self.latent, "seed": self.seed}


EXPERTS = {"mlp": MLPExpert, "lenet": LeNetExpert}
Expert = Union[str, Callable[..., keras.layers.Layer]]


def make_expert(expert: Expert, name: str, seed: int,
                kwargs: Optional[Mapping] = None) -> keras.layers.Layer:
  """An expert layer: a name in EXPERTS or a factory(name=, seed=, **kw)."""
  kwargs = dict(kwargs or {})
  if callable(expert):
    return expert(name=name, seed=seed, **kwargs)
  if expert not in EXPERTS:
    raise UserError(f"unknown expert {expert!r}; known: "
                    f"{', '.join(sorted(EXPERTS))}, or pass a factory "
                    "expert(name=..., seed=..., **expert_kwargs) -> Layer")
  try:
    return EXPERTS[expert](name=name, seed=seed, **kwargs)
  except TypeError as e:
    raise UserError(f"expert {expert!r}: {e}") from None


def softmax_gate(num_experts: int, name: str, seed: int):
  """g(x) = softmax(W flat(x) + b) over `num_experts` (a Dense layer)."""
  return keras.layers.Dense(
      num_experts, activation="softmax", name=name,
      kernel_initializer=keras.initializers.GlorotUniform(seed))


class MoEModel(L.LazyBuild, MultiTaskModel):
  """Base of the MoE models: task resolution, towers, the config.

  Args:
    tasks: {task: classes} (or a list of names with `num_classes` each).
    task_names: the builder's task names (alternative to `tasks`).
    num_classes: classes (output units) of tasks named without a count.
    expert: "mlp", "lenet" or a factory(name=, seed=, **expert_kwargs).
    expert_kwargs: arguments of the expert.
    tower_units: hidden ReLU widths of each task's tower.
    seed: initialiser seed.
  """

  def __init__(self, tasks: Optional[Mapping[str, int]] = None,
               task_names: Optional[Sequence[str]] = None,
               num_classes: int = 10, expert: Expert = "mlp",
               expert_kwargs: Optional[Mapping] = None,
               tower_units: Sequence[int] = (50,), seed: int = 0, **kwargs):
    super().__init__(**kwargs)
    names = tasks if tasks is not None else task_names
    self.tasks_ = L.resolve_tasks(
        tasks, task_names, defaults={t: num_classes for t in names or []})
    self._config = dict(
        tasks=self.tasks_, num_classes=int(num_classes),
        expert=expert if isinstance(expert, str) else "custom",
        expert_kwargs=dict(expert_kwargs or {}),
        tower_units=[int(u) for u in tower_units], seed=int(seed))
    self._expert, self._seeds = expert, iter(range(seed * 1000,
                                                   seed * 1000 + 1000))
    self.towers = {t: self._tower(t, c) for t, c in self.tasks_.items()}

  def _next_seed(self):
    return next(self._seeds)

  def _make_expert(self, name, expert=None, kwargs=None):
    # Experts seed their layers with seed, seed + 1, ...: space them apart.
    return make_expert(self._expert if expert is None else expert, name,
                       100 * self._next_seed(),
                       self._config["expert_kwargs"] if kwargs is None
                       else kwargs)

  def _gate(self, num_experts, name):
    return softmax_gate(num_experts, name, self._next_seed())

  def _tower(self, task, classes):
    layers = [keras.layers.Dense(
        u, activation="relu", name=f"{task}_tower{i}",
        kernel_initializer=keras.initializers.GlorotUniform(
            self._next_seed()))
              for i, u in enumerate(self._config["tower_units"])]
    layers.append(keras.layers.Dense(
        classes, name=f"{task}_out",
        kernel_initializer=keras.initializers.GlorotUniform(
            self._next_seed())))
    return layers

  def _apply_tower(self, task, h):
    for layer in self.towers[task]:
      h = layer(h)
    return h

  @staticmethod
  def _stack(layers, x):
    """[B, E, d] outputs of `layers` on x."""
    return tf.stack([e(x) for e in layers], axis=1)

  # === Config ===
  def mixture_split(self, inputs):
    """(Z, heads) of a one-level mixture: Z the stacked shared experts'
    outputs, each task mixing them with its own gate `self.gates[t]` of the
    input, then its tower (MMoE, DSelect-k)."""
    image = L.image_of(inputs)
    experts = self._stack(self.experts, image)
    x = flat(image)

    def heads(z):
      return {t: self._apply_tower(t, mix(self.gates[t](x), z))
              for t in self.tasks_}
    return experts, heads

  def gate_weights(self, inputs) -> dict:
    """{task: [B, E]} mixture weights of a one-level mixture (rows sum to
    1)."""
    x = flat(L.image_of(inputs))
    return {t: self.gates[t](x) for t in self.tasks_}

  def get_config(self):
    config = super().get_config()
    config.update(self._config)
    if config["expert"] == "custom":
      raise UserError(f"{type(self).__name__} with an expert factory can't "
                      "be serialised by name; register the expert in "
                      "tfmtl.models.moe.EXPERTS")
    return config
