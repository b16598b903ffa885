r"""Per-sample gradient mean and variance (the statistics PRF needs).

For a per-example loss l(x_i) and variables θ, with g_i = ∇_θ l(x_i) and
ḡ = (1/B) Σ_i g_i, `gradient_moments` returns ḡ and

    v = (1/B) Σ_i (ḡ − g_i)²        (elementwise, biased, as the PRF seed)

in one of two modes, which differ only in how BatchNorm couples examples:

- `coupled` (seed 000's `get_grad_var`): g_i is the gradient of the i-th
  element of the per-example loss vector through the *batch* forward, so
  BatchNorm's batch mean and variance carry gradient from every example.
  Costs B backward passes through the batch (the seed: B + 1).
- `independent`: g_i is example i's own gradient with every BatchNorm
  normalising by the *batch's* statistics held fixed (stop-gradient). The
  examples are then independent, so the B forward + backward passes are
  vectorised over the batch (`tf.vectorized_map`) after one batch forward that
  records the statistics; the mean ḡ equals the gradient of the mean loss
  with stop-gradient batch statistics. Keras BatchNormalization called with
  training=True inside `vectorized_map` would normalise each example by its
  *own* statistics (DESIGN.md §2, the trap); this module never does that.

Both modes leave BatchNorm's moving statistics untouched (the train step's
own forward already updated them once this step) and run every other layer
in inference mode: **dropout is off** in the per-sample pass. The variance
therefore measures how examples disagree about the gradient of the
deterministic network, not dropout noise; with dropout on, each example of
the vectorised pass would need its own mask and the spread would mix the two.

With per-example weights s_i ≥ 0 (partly labelled data: 0 = no label of
the task; `weights=`), the moments are those of the weighted loss
Σ_i s_i l(x_i) / Σ_i s_i, over the labelled examples:

    ḡ = Σ_i s_i g_i / S,   v = Σ_i s_i (ḡ − g_i)² / S,   S = Σ_i s_i

(both 0 when S = 0); with every s_i = 1 they are the ones above.

Works eagerly, inside tf.function and inside `strategy.run` (each replica
returns its local moments; the train step combines them exactly). BatchNorm
with `synchronized=True` uses global-batch statistics in both modes.

Cost (bench/per_sample.py, BENCHMARKS.md "PRF"; pose + flow trunk, B = 16,
128×320, CPU): independent 1.0–1.4× one batch gradient (one batch forward
for the statistics + the vectorised pass; pfor runs Conv2DBackpropFilter as a
while-loop over examples), coupled 7–11×, as the seed's loop.

References:
  Al Hasib et al., "Boosting auxiliary task guidance: a probabilistic
  approach", IAES IJ-AI 12(1), 2023 (the per-sample variance of PRF).
"""

import contextlib
import logging
import threading
from typing import Callable, List, Optional, Sequence, Tuple

import keras
import tensorflow as tf

from tfmtl.errors import UserError

MODES = ("independent", "coupled")

_local = threading.local()
_installed = {}  # id(layer) -> [layer, refcount]
_install_lock = threading.Lock()


def _bn_layers(model) -> List[keras.layers.BatchNormalization]:
  layers = model._flatten_layers(include_self=False, recursive=True)  # pylint: disable=protected-access
  return [l for l in layers
          if isinstance(l, keras.layers.BatchNormalization)]


def _patched_call(layer, original):
  """BatchNorm call that follows this thread's per-sample mode, if any."""

  # No autograph: nothing here branches on tensor values, and converting a
  # fresh closure per layer per trace costs seconds.
  @tf.autograph.experimental.do_not_convert
  def call(inputs, training=None, mask=None):
    mode = getattr(_local, "mode", None)
    if mode is None or not layer.trainable:
      return original(inputs, training=training, mask=mask)
    if layer.renorm:
      raise UserError(f"BatchNormalization {layer.path!r} uses renorm, which "
                      "per-sample gradient statistics do not support; build "
                      "the model with renorm=False")
    kind, store = mode
    x = tf.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
    if kind == "given":
      mean, variance = store[id(layer)].pop(0)
    else:
      # pylint: disable=protected-access
      mean, variance = layer._moments(x, mask)
      if kind == "record":
        mean, variance = tf.stop_gradient(mean), tf.stop_gradient(variance)
        store.setdefault(id(layer), []).append((mean, variance))
    gamma = tf.cast(layer.gamma, x.dtype) if layer.scale else None
    beta = tf.cast(layer.beta, x.dtype) if layer.center else None
    out = keras.ops.batch_normalization(
        x, tf.cast(mean, x.dtype), tf.cast(variance, x.dtype),
        axis=layer.axis, offset=beta, scale=gamma, epsilon=layer.epsilon)
    return tf.cast(out, layer.compute_dtype)

  return call


@contextlib.contextmanager
def _batchnorm_mode(model, kind: str, store: dict):
  """Within the block, the model's BatchNorm layers (this thread only):

  - "batch": normalise by the batch's statistics, gradient flowing through
    them (training-mode forward without the moving-statistics update);
  - "record": the same with stop-gradient statistics, appended to `store`;
  - "given": normalise by statistics popped from `store` in call order.
  """
  layers = _bn_layers(model)
  with _install_lock:
    for layer in layers:
      entry = _installed.get(id(layer))
      if entry is None:
        original = layer.call
        object.__setattr__(layer, "call", _patched_call(layer, original))
        _installed[id(layer)] = [layer, 1]
      else:
        entry[1] += 1
  previous = getattr(_local, "mode", None)
  _local.mode = (kind, store)
  try:
    yield
  finally:
    _local.mode = previous
    with _install_lock:
      for layer in layers:
        entry = _installed[id(layer)]
        entry[1] -= 1
        if entry[1] == 0:
          object.__delattr__(layer, "call")
          del _installed[id(layer)]


def _check(model, variables, mode):
  if mode not in MODES:
    raise UserError(f"per-sample mode {mode!r} is not one of {MODES}; set "
                    "per_sample_mode to 'independent' or 'coupled'")
  if not variables:
    raise UserError("gradient_moments: no variables given; pass the shared "
                    "variables (model.shared_variables)")
  if not model.built:
    raise UserError(f"model {model.name} is not built: call it once on a "
                    "batch before asking for per-sample gradients")


def _zeros_for_none(grads, variables):
  return [tf.zeros(v.shape, v.dtype) if g is None else g
          for g, v in zip(grads, variables)]


def _batch_size(inputs):
  first = tf.nest.flatten(inputs)[0]
  static = first.shape[0]
  return static if static is not None else tf.shape(first)[0]


def _weighted_welford(total, mean, m2, g, s):
  """Weighted Welford (West 1979): adds gradient g with weight s ≥ 0."""
  total = total + s
  frac = tf.math.divide_no_nan(s, total)
  keep = s > 0.0  # an unlabelled example adds nothing (even if g is NaN)
  delta = [gi - mi for gi, mi in zip(g, mean)]
  new_mean = [tf.where(keep, mi + frac * d, mi) for mi, d in zip(mean, delta)]
  m2 = [tf.where(keep, q + s * d * (gi - mi), q)
        for q, d, gi, mi in zip(m2, delta, g, new_mean)]
  return total, new_mean, m2


def _coupled_weighted(tape, loss, variables, b, weights):
  """`_coupled`'s loop for one loss with per-example weights [B]."""
  mean = [tf.zeros(v.shape, tf.float32) for v in variables]
  m2 = [tf.zeros(v.shape, tf.float32) for v in variables]
  total = tf.zeros([], tf.float32)
  weights = tf.cast(weights, tf.float32)

  def body(k, total, mean, m2):
    g = tape.gradient(loss, variables,
                      output_gradients=tf.one_hot(k, b, dtype=loss.dtype))
    g = _zeros_for_none(g, variables)
    total, mean, m2 = _weighted_welford(total, mean, m2, g, weights[k])
    return k + 1, total, mean, m2

  if isinstance(b, int):
    state = (0, total, mean, m2)
    for _ in range(b):
      state = body(*state)
    _, total, mean, m2 = state
  else:
    _, total, mean, m2 = tf.while_loop(lambda k, *_: k < b, body,
                                       (tf.constant(0), total, mean, m2))
  return mean, [tf.math.divide_no_nan(q, total) for q in m2]


def _coupled(model, inputs, labels, loss_fns, variables, weights=None):
  """Welford's running mean and M2 over the B per-element gradients.

  One batch forward on a persistent tape (shared by every loss), then the
  gradient of each loss element; Welford keeps two accumulators instead of
  B gradient copies and is as accurate as the seed's two-pass sum.
  """
  store = {}
  b = _batch_size(inputs)
  with tf.GradientTape(persistent=True) as tape:
    with _batchnorm_mode(model, "batch", store):
      outputs = model(inputs, training=False)
    losses = [tf.cast(fn(outputs, labels), tf.float32) for fn in loss_fns]
    if isinstance(b, int):
      elements = [tf.unstack(l, num=b) for l in losses]

  def welford(k, mean, m2, g):
    delta = [gi - mi for gi, mi in zip(g, mean)]
    mean = [mi + d / k for mi, d in zip(mean, delta)]
    m2 = [s + d * (gi - mi) for s, d, gi, mi in zip(m2, delta, g, mean)]
    return mean, m2

  out = []
  for j, loss in enumerate(losses):
    if weights is not None and weights[j] is not None:
      out.append(_coupled_weighted(tape, loss, variables, b, weights[j]))
      continue
    mean = [tf.zeros(v.shape, tf.float32) for v in variables]
    m2 = [tf.zeros(v.shape, tf.float32) for v in variables]
    if isinstance(b, int):
      for k in range(b):
        g = _zeros_for_none(tape.gradient(elements[j][k], variables),
                            variables)
        mean, m2 = welford(float(k + 1), mean, m2, g)
      count = float(b)
    else:
      def body(k, mean, m2, loss=loss):
        g = tape.gradient(loss, variables,
                          output_gradients=tf.one_hot(k, b, dtype=loss.dtype))
        g = _zeros_for_none(g, variables)
        mean, m2 = welford(tf.cast(k + 1, tf.float32), mean, m2, g)
        return k + 1, mean, m2

      _, mean, m2 = tf.while_loop(lambda k, *_: k < b, body,
                                  (tf.constant(0), mean, m2))
      count = tf.cast(b, tf.float32)
    out.append((mean, [s / count for s in m2]))
  return out


def batch_statistics(model, inputs) -> dict:
  """Records the batch mean/variance every BatchNorm layer sees (no update
  of moving statistics, dropout off), for the "given" mode."""
  store = {}
  with _batchnorm_mode(model, "record", store):
    model(inputs, training=False)
  return store


def _weighted_moments(grads, s):
  """(Σ s_i g_i / S, Σ s_i (g_i − ḡ)² / S) over axis 0; s [B] ≥ 0."""
  s = tf.cast(s, tf.float32)
  total = tf.reduce_sum(s)
  mean, var = [], []
  for g in grads:
    sb = tf.reshape(s, [-1] + [1] * (len(g.shape) - 1))
    keep = sb > 0.0
    m = tf.math.divide_no_nan(
        tf.reduce_sum(tf.where(keep, sb * g, 0.0), axis=0), total)
    sq = tf.where(keep, sb * tf.square(g - m[None]), 0.0)
    mean.append(m)
    var.append(tf.math.divide_no_nan(tf.reduce_sum(sq, axis=0), total))
  return mean, var


def _independent(model, inputs, labels, loss_fns, variables, weights=None):
  stats = batch_statistics(model, inputs)

  @tf.autograph.experimental.do_not_convert
  def one(example):
    x, y = tf.nest.map_structure(lambda t: t[None], example)
    # Each trace pops the statistics in call order, so give it a fresh copy.
    given = {k: list(v) for k, v in stats.items()}
    with tf.GradientTape(persistent=len(loss_fns) > 1) as tape:
      with _batchnorm_mode(model, "given", given):
        out = model(x, training=False)
      losses = [tf.reduce_sum(tf.cast(fn(out, y), tf.float32))
                for fn in loss_fns]
    return [_zeros_for_none(tape.gradient(l, variables), variables)
            for l in losses]

  # pfor warns once per conv layer that it runs the filter gradient as a
  # while-loop over examples; expected, and measured (BENCHMARKS.md "PRF").
  logger = tf.get_logger()
  level = logger.level
  logger.setLevel(logging.ERROR)
  try:
    per_loss = tf.vectorized_map(one, (inputs, labels))
  finally:
    logger.setLevel(level)
  out = []
  for j, grads in enumerate(per_loss):
    if weights is not None and weights[j] is not None:
      out.append(_weighted_moments(grads, weights[j]))
      continue
    mean = [tf.reduce_mean(g, axis=0) for g in grads]
    var = [tf.reduce_mean(tf.square(g - m[None]), axis=0)
           for g, m in zip(grads, mean)]
    out.append((mean, var))
  return out


@tf.autograph.experimental.do_not_convert
def gradient_moments(
    model, inputs, labels,
    per_example_loss_fn: Callable[[object, object], tf.Tensor],
    variables: Sequence, mode: str = "independent",
) -> Tuple[List[tf.Tensor], List[tf.Tensor]]:
  """Mean and variance over the batch of per-example gradients.

  Args:
    model: a built Keras model (a `MultiTaskModel`).
    inputs: the batch's inputs, a tensor or nest of [B, ...] tensors.
    labels: the labels `per_example_loss_fn` reads, a tensor or nest.
    per_example_loss_fn: (outputs, labels) -> [B] losses for any batch size
      B (1 included).
    variables: the variables to differentiate (usually the shared ones);
      only these are held per example.
    mode: "independent" or "coupled" (see the module docstring).

  Returns:
    (mean, variance): two lists of float32 tensors shaped like `variables`;
    mean = (1/B) Σ_i g_i, variance = (1/B) Σ_i (mean − g_i)².
  """
  return gradient_moments_of_losses(model, inputs, labels,
                                    [per_example_loss_fn], variables,
                                    mode)[0]


@tf.autograph.experimental.do_not_convert
def gradient_moments_of_losses(
    model, inputs, labels,
    per_example_loss_fns: Sequence[Callable[[object, object], tf.Tensor]],
    variables: Sequence, mode: str = "independent",
    weights: Optional[Sequence[Optional[tf.Tensor]]] = None,
) -> List[Tuple[List[tf.Tensor], List[tf.Tensor]]]:
  """`gradient_moments` of several losses (tasks) from shared passes.

  The batch-statistics forward and each example's forward are done once
  for all losses; only the backward passes are per loss. Returns one
  (mean, variance) pair per loss, equal to separate `gradient_moments`
  calls. `weights`: one [B] tensor of per-example weights per loss (None:
  all 1), giving the weighted moments of the module docstring.
  """
  variables = list(variables)
  _check(model, variables, mode)
  fns = list(per_example_loss_fns)
  if weights is not None and len(weights) != len(fns):
    raise UserError(f"gradient_moments_of_losses: {len(weights)} weight "
                    f"vectors for {len(fns)} losses; give one per loss")
  if mode == "coupled":
    return _coupled(model, inputs, labels, fns, variables, weights)
  return _independent(model, inputs, labels, fns, variables, weights)
