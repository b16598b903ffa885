"""What MoDo and SDMGrad share: three independent batches and a simplex
weight vector kept between steps."""

import tensorflow as tf

from tfmtl.aggregation.base import Aggregator, state


class MultiBatch(Aggregator):
  """Base of methods that read the Jacobians of `batches_per_step`
  independent batches (the step draws them and passes `jacobians=[K, T,
  n]`) and keep task weights on the simplex as state.

  A direct call `agg(J)` without `jacobians` uses J for every batch; an
  unbuilt method starts from the uniform weights 1/T. Subclasses name the
  state attribute (`weights_attr`, kept for the checkpoints' object graph)
  and the log prefix.
  """

  batches_per_step = 3
  handles_absent = True
  weights_attr = "w"
  weights_state = "w"
  log_prefix = "w"

  def build(self, tasks, num_params=None, shared_variables=None):
    super().build(tasks, num_params, shared_variables)
    t = len(tasks)
    setattr(self, self.weights_attr,
            state(tf.fill([t], 1.0 / t), self.weights_state))

  def batches(self, J, jacobians):
    """The K batches' Jacobians (J for each in a direct call)."""
    if jacobians is None:
      return tf.stack([J] * self.batches_per_step)
    return jacobians

  def kept_weights(self, J):
    """The weights carried from the last step (1/T when unbuilt)."""
    w = getattr(self, self.weights_attr, None)
    if w is None:
      t = tf.shape(J)[0]
      return tf.fill([t], 1.0 / tf.cast(t, J.dtype))
    return tf.cast(w, J.dtype)

  def keep(self, weights):
    """Stores this step's weights (when built)."""
    w = getattr(self, self.weights_attr, None)
    if w is not None:
      w.assign(tf.cast(weights, tf.float32))

  def logs(self):
    w = getattr(self, self.weights_attr, None)
    if w is None:
      return {}
    return {f"{self.log_prefix}/{n}": w[i]
            for i, n in enumerate(self.task_names)}
