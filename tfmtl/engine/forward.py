"""The first phase of a step: the forward pass and each task's loss share.

Per-replica loss shares are Σ_i l_t(x_i) / B_global, so their sum over
replicas is the global mean loss. Outputs are cast to float32 before the
losses (mixed precision).
"""

import tensorflow as tf

SUM = tf.distribute.ReduceOp.SUM


def float32(outputs):
  return tf.nest.map_structure(
      lambda o: tf.cast(o, tf.float32) if o.dtype.is_floating else o,
      outputs)


def forward(split, inputs, on_representation: bool):
  """(outputs, representation): the training-mode forward pass.

  For methods on the representation the model runs as trunk then heads, so
  the tape holds Z (None otherwise).
  """
  if on_representation:
    representation, heads = split.call_split(inputs, training=True)
    return float32(heads(representation)), representation
  return float32(split.model(inputs, training=True)), None


def loss_shares(tasks, labels, outputs, global_batch):
  """[replica's share of L_t] per task, a list (see module docstring).

  Kept as a list: slicing a stacked tensor after the tape closes would not
  be recorded, and per-task gradients would be None.
  """
  return [tf.reduce_sum(tf.cast(t.loss(labels[t.name], outputs[t.name]),
                                tf.float32)) / global_batch
          for t in tasks]
