"""Which variables a task's output depends on, read from any Keras model.

Two ways, which agree wherever both apply (tests/models/test_infer.py):

- `structural(model, tasks)` walks a functional model's graph backwards from
  each task's output and collects the trainable variables of every layer it
  meets (a nested model, e.g. a `keras.Sequential` trunk or a
  `keras.applications` backbone, counts as one layer: all its variables).
- `probe(model, tasks, input_spec)` traces one forward and T backward passes
  on a symbolic batch (nothing runs, nothing is updated) and records which
  variables each task's output has a gradient path to. It works on any model,
  subclassed ones included.

`representation_cut` finds, in a functional graph, the tensors through which
the shared variables reach the task heads (see its docstring).
"""

import collections
from typing import Dict, List, Sequence

import keras
import tensorflow as tf

from tfmtl.errors import UserError

Functional = keras.src.models.functional.Functional


def is_functional(model) -> bool:
  return isinstance(model, Functional)


def _producer(tensor):
  """The graph node that made a KerasTensor."""
  operation, node_index, _ = tensor._keras_history  # pylint: disable=protected-access
  return operation._inbound_nodes[node_index]  # pylint: disable=protected-access


def _variables(operation) -> list:
  return list(getattr(operation, "trainable_variables", []) or [])


def output_tensors(model, tasks: Sequence[str]) -> Dict[str, object]:
  """{task: KerasTensor} of a functional model's dict outputs."""
  outputs = model._outputs_struct  # pylint: disable=protected-access
  if not isinstance(outputs, dict):
    raise UserError(
        f"model {model.name} returns {type(outputs).__name__}, not a dict "
        "keyed by task name: build it as keras.Model(inputs, {'task': "
        "output, ...})")
  return {t: outputs[t] for t in tasks}


def _ancestors(start_nodes) -> list:
  """Nodes reachable backwards from `start_nodes` (themselves included)."""
  seen, order, stack = set(), [], list(start_nodes)
  while stack:
    node = stack.pop()
    if id(node) in seen:
      continue
    seen.add(id(node))
    order.append(node)
    stack.extend(_producer(t) for t in node.input_tensors)
  return order


def structural(model, tasks: Sequence[str]) -> Dict[int, set]:
  """{id(variable): tasks whose output depends on it}, from the graph."""
  depends = collections.defaultdict(set)
  for task, tensor in output_tensors(model, tasks).items():
    for node in _ancestors([_producer(tensor)]):
      for v in _variables(node.operation):
        depends[id(v)].add(task)
  return dict(depends)


def input_spec_of(model, sample=None):
  """Symbolic input specs (batch dimension free) for tracing `model`.

  From `sample` (a batch, or its tf.TypeSpec structure) when given, else a
  functional model's inputs, else the shapes a built subclassed model was
  first called with (float32 assumed).
  """
  def free_batch(spec):
    return tf.TensorSpec([None] + list(spec.shape[1:]), spec.dtype)

  if sample is not None:
    specs = tf.nest.map_structure(
        lambda s: s if isinstance(s, tf.TypeSpec) else tf.type_spec_from_value(
            tf.convert_to_tensor(s)), sample)
    return tf.nest.map_structure(free_batch, specs)
  if is_functional(model):
    inputs = model._inputs_struct  # pylint: disable=protected-access
    return tf.nest.map_structure(
        lambda t: tf.TensorSpec([None] + list(t.shape[1:]), t.dtype), inputs)
  shapes = getattr(model, "_build_shapes_dict", None) or {}
  if not model.built or len(shapes) != 1:
    raise UserError(
        f"model {model.name} is not built, so tfmtl can't tell which "
        "variables each task uses: call it once on a batch (model(x)) before "
        "training, or pass input_spec= (e.g. dataset.element_spec[0])")
  return _spec_of_shape(next(iter(shapes.values())))


def _spec_of_shape(shape):
  if isinstance(shape, dict):
    return {k: _spec_of_shape(v) for k, v in shape.items()}
  if isinstance(shape, (list, tuple)) and shape and isinstance(
      shape[0], (list, tuple, dict)):
    return [_spec_of_shape(s) for s in shape]
  return tf.TensorSpec([None] + list(shape[1:]), tf.float32)


def probe(model, tasks: Sequence[str], input_spec) -> Dict[int, set]:
  """{id(variable): tasks whose output has a gradient path to it}.

  Traces (does not run) the model in training mode on `input_spec`, so no
  BatchNorm statistic or random state moves.
  """
  variables = list(model.trainable_variables)
  depends = collections.defaultdict(set)
  outputs_seen = {}

  def trace(x):
    with tf.GradientTape(persistent=True) as tape:
      out = model(x, training=True)
      targets = ({t: tf.reduce_sum(tf.cast(out[t], tf.float32))
                  for t in tasks if t in out}
                 if isinstance(out, dict) else {})
    outputs_seen["value"] = out
    for t, target in targets.items():
      for v, g in zip(variables, tape.gradient(target, variables)):
        if g is not None:
          depends[id(v)].add(t)
    return tf.constant(0)

  tf.function(trace, autograph=False).get_concrete_function(input_spec)
  out = outputs_seen["value"]
  if not isinstance(out, dict):
    raise UserError(
        f"model {model.name} returns {type(out).__name__}, not a dict keyed "
        "by task name: make its call return {'task': output, ...}")
  missing = [t for t in tasks if t not in out]
  if missing:
    raise UserError(f"tasks {missing} are not outputs of model {model.name} "
                    f"(it outputs {sorted(out)})")
  return dict(depends)


def watched_layer(layer):
  """The innermost last layer with weights inside a (nested) layer."""
  inner = getattr(layer, "layers", None)
  if inner:
    for sub in reversed(inner):
      if _variables(sub):
        return watched_layer(sub)
  return layer


def last_shared_layer(model, shared_ids: set):
  """The shared layer nearest the heads (what GradNorm watches)."""
  if is_functional(model):
    by_depth = sorted(model._nodes_by_depth.items())  # pylint: disable=protected-access
    for _, nodes in by_depth:  # depth 0 = the output layers
      for node in nodes:
        owned = _variables(node.operation)
        if owned and all(id(v) in shared_ids for v in owned):
          return watched_layer(node.operation)
    return None
  leaves = [l for l in model._flatten_layers(include_self=False)  # pylint: disable=protected-access
            if not getattr(l, "layers", None) and _variables(l)]
  for layer in reversed(leaves):
    if all(id(v) in shared_ids for v in _variables(layer)):
      return layer
  return None


class Cut:
  """A functional model split at its shared representation.

  `split(inputs, training)` runs the shared part and returns (Z, heads): Z
  the list of cut tensors and heads(Z) the outputs dict, computed by the
  task-only part of the graph from Z (and from tensors that depend on no
  shared variable, e.g. the raw inputs, which it closes over).
  """

  def __init__(self, model, tasks, trunk_nodes, head_nodes, cut, closed):
    self.model, self.tasks = model, list(tasks)
    self._trunk, self._heads = trunk_nodes, head_nodes
    self.tensors = cut            # KerasTensors of Z
    self._closed = closed         # KerasTensors the heads read besides Z

  def _run(self, nodes, values, training):
    from keras.src.models.functional import operation_fn  # pylint: disable=g-import-not-at-top
    for node in nodes:
      args, kwargs = node.arguments.fill_in(values)
      out = operation_fn(node.operation, training=training)(*args, **kwargs)
      for x, y in zip(node.outputs, tf.nest.flatten(out)):
        values[id(x)] = y
    return values

  def split(self, inputs, training=False):
    model = self.model
    flat = tf.nest.flatten(model._standardize_inputs(inputs))  # pylint: disable=protected-access
    values = {id(x): y for x, y in zip(model.inputs, flat)}
    values = self._run(self._trunk, values, training)
    z = [values[id(t)] for t in self.tensors]
    closed = {id(t): values[id(t)] for t in self._closed}
    outputs = output_tensors(model, self.tasks)

    def heads(z_values):
      head_values = dict(closed)
      head_values.update({id(t): v for t, v in zip(self.tensors, z_values)})
      head_values = self._run(self._heads, head_values, training)
      return {t: head_values[id(x)] for t, x in outputs.items()}
    return z, heads


def representation_cut(model, tasks: Sequence[str], shared_ids: set) -> Cut:
  """The cut between a functional model's shared part and its task heads.

  Trunk = every node upstream of (or owning) a shared variable; heads = the
  rest. Z = the tensors that depend on a shared variable, are made in the
  trunk and are read by a head node or are outputs. Every shared variable
  reaches every loss only through Z and the heads own no shared variable,
  so Σ_t α_t ∇_θs L_t = (∂Z/∂θs)ᵀ Σ_t α_t ∇_Z L_t (what MGDA-UB uses).
  """
  if not shared_ids:
    raise UserError(
        f"model {model.name} has no variable that two tasks share, so it has "
        "no shared representation; use a method that doesn't need one")
  outputs = output_tensors(model, tasks)
  nodes = _ancestors([_producer(t) for t in outputs.values()])
  owners = [n for n in nodes
            if any(id(v) in shared_ids for v in _variables(n.operation))]
  trunk = {id(n) for n in _ancestors(owners)}
  depth = {id(n): d for d, ns in model._nodes_by_depth.items() for n in ns}  # pylint: disable=protected-access
  ordered = sorted(nodes, key=lambda n: -depth[id(n)])
  dependent = set()   # ids of KerasTensors computed from a shared variable
  for node in ordered:
    if (any(id(v) in shared_ids for v in _variables(node.operation)) or
        any(id(t) in dependent for t in node.input_tensors)):
      dependent.update(id(t) for t in node.outputs)
  head_nodes = [n for n in ordered if id(n) not in trunk]
  read_by_heads = {}
  for node in head_nodes:
    for t in node.input_tensors:
      read_by_heads[id(t)] = t
  for t in outputs.values():
    if id(_producer(t)) in trunk:
      read_by_heads[id(t)] = t
  cut, closed = [], []
  for key, t in read_by_heads.items():
    if id(_producer(t)) not in trunk:
      continue
    (cut if key in dependent else closed).append(t)
  if not cut:
    raise UserError(
        f"model {model.name}: no tensor carries the shared variables to the "
        "task heads; pass representation= explicitly")
  trunk_nodes = [n for n in ordered if id(n) in trunk and not n.is_input]
  head_nodes = [n for n in head_nodes if not n.is_input]
  return Cut(model, tasks, trunk_nodes, head_nodes, cut, closed)


def owners_by_task(depends: Dict[int, set], variables, tasks: Sequence[str]):
  """(shared, {task: own}, unused) lists from a dependency map."""
  shared, own, unused = [], {t: [] for t in tasks}, []
  for v in variables:
    users = depends.get(id(v), set())
    if len(users) >= 2:
      shared.append(v)
    elif len(users) == 1:
      own[next(iter(users))].append(v)
    else:
      unused.append(v)
  return shared, own, unused


def dedupe(variables) -> List:
  seen, out = set(), []
  for v in variables:
    if id(v) not in seen:
      seen.add(id(v))
      out.append(v)
  return out
