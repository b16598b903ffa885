"""MPNN for QM9 (Gilmer et al., "Neural Message Passing for Quantum
Chemistry", ICML 2017): edge network + GRU + Set2Set, one head a target.

The network of the QM9 multi-task benchmark (LibMTL `examples/qm9`,
Nash-MTL), on padded molecules (inputs {"atoms": [B, N] atomic numbers, 0
= padding; "positions": [B, N, 3] Å}) over the complete graph without self
loops (PyG's `Complete` transform):

    h⁰ᵢ = ReLU(W₀ xᵢ)
    mᵢ = ReLU( W_root hᵢ + b + 1/|N(i)| Σ_{j≠i} A(eᵢⱼ) hⱼ ),
         A: e ↦ MLP(e) ∈ ℝ^{d×d}  (PyG's NNConv, aggr="mean")
    hᵢ ← GRU(mᵢ, hᵢ)                          (3 rounds, shared weights)
    z  = ReLU(W₁ Set2Set({hᵢ}, 3 steps)),      ŷᵗ = wₜᵀ z + bₜ

Node features xᵢ: one-hot element (H, C, N, O, F) and Z/9. Edge features
eᵢⱼ: the distance dᵢⱼ (Å, PyG's `Distance(norm=False)`) and a bond flag,
dᵢⱼ < 1.15 (rᵢ + rⱼ) with covalent radii r (Cordero et al. 2008).
Set2Set (Vinyals et al. 2016): q = LSTM(q*), aᵢ = softmax_i(hᵢ·q) over the
molecule's atoms, r = Σ aᵢ hᵢ, q* = [q, r].

Shared: everything up to z. Task-specific: each target's linear head.
`call_split` gives z.

Differences from LibMTL's network and why: the qm9pack CSVs have no bond
types or RDKit atom features (aromaticity, hybridisation, H count), so the
11 node and 4 bond-type edge features of PyG's QM9 become the element
features above and an inferred bond flag; padding with masks replaces
PyG's sparse batches (same sums, no ragged tensors). The edge matrices
A(eᵢⱼ) are never formed: `edge_messages` moves the edge network's linear
last layer past the sum over j (the same sum, 5-15× faster steps on a CPU;
BENCHMARKS.md "MPNN (QM9)").
"""

from typing import Sequence

import keras
import tensorflow as tf

from tfmtl.errors import UserError
from tfmtl.models.base import MultiTaskModel

ELEMENTS = (1, 6, 7, 8, 9)  # H, C, N, O, F
COVALENT = {1: 0.31, 6: 0.76, 7: 0.71, 8: 0.66, 9: 0.57}  # Å


def _inputs(inputs):
  if not isinstance(inputs, dict) or not {"atoms", "positions"} <= set(
      inputs):
    raise UserError("mpnn: inputs must be {'atoms': [B, N] atomic numbers, "
                    "'positions': [B, N, 3]} (the qm9 source)")
  return tf.cast(inputs["atoms"], tf.int32), tf.cast(inputs["positions"],
                                                     tf.float32)


def graph_features(atoms, positions):
  """(node features [B, N, 6], edge features [B, N, N, 2], node mask
  [B, N], edge mask [B, N, N]) of padded molecules."""
  node = tf.cast(atoms > 0, tf.float32)
  onehot = tf.stack([tf.cast(atoms == z, tf.float32) for z in ELEMENTS], -1)
  x = tf.concat([onehot, tf.cast(atoms, tf.float32)[..., None] / 9.0], -1)
  diff = positions[:, :, None, :] - positions[:, None, :, :]
  dist = tf.sqrt(tf.reduce_sum(tf.square(diff), -1) + 1e-12)
  radius = tf.reduce_sum(onehot * tf.constant(
      [COVALENT[z] for z in ELEMENTS], tf.float32), -1)
  bond = tf.cast(dist < 1.15 * (radius[:, :, None] + radius[:, None, :]),
                 tf.float32)
  n = tf.shape(atoms)[1]
  edge = node[:, :, None] * node[:, None, :] * (1.0 - tf.eye(n))
  return x, tf.stack([dist, bond], -1) * edge[..., None], node, edge


def edge_messages(u, w, bias, edge, h):
  """Σⱼ eᵢⱼ A(eᵢⱼ) hⱼ [B, N, d] without forming A ([B, N, N, d, d]).

  The edge network's last layer is linear, A(e) = Σₖ uₖ(e) Wₖ + B with
  u(e) ∈ ℝ^H its hidden ReLU layer, so

      Σⱼ A(eᵢⱼ) hⱼ = Σₖ Σⱼ uᵢⱼₖ (Wₖ hⱼ) + B Σⱼ hⱼ,

  O(N²·H·d + N·H·d²) a molecule rather than O(N²·H·d²): the same sum up
  to float rounding.

  Args:
    u: [B, N, N, H] hidden edge features, zero off the edge mask.
    w: [H, d, d] the last layer's kernel (Wₖ[out, in]).
    bias: [d, d] its bias B[out, in].
    edge: [B, N, N] edge mask.
    h: [B, N, d] node states.
  """
  wh = tf.einsum("hkl,bjl->bjhk", w, h)                     # [B, N, H, d]
  return (tf.einsum("bijh,bjhk->bik", u, wh) +
          tf.einsum("kl,bil->bik", bias, tf.einsum("bij,bjl->bil", edge, h)))


class MPNN(MultiTaskModel):
  """Gilmer et al.'s MPNN with one linear head per target.

  Args:
    task_names: the targets (one scalar output each).
    dim: hidden size d (64 in LibMTL / Nash-MTL).
    edge_hidden: hidden width of the edge network (128).
    rounds: message-passing rounds (3).
    set2set_steps: Set2Set processing steps (3).
    seed: initialiser seed.
  """

  def __init__(self, task_names: Sequence[str], dim: int = 64,
               edge_hidden: int = 128, rounds: int = 3,
               set2set_steps: int = 3, seed: int = 0, **kwargs):
    super().__init__(**kwargs)
    self._config = dict(task_names=list(task_names), dim=int(dim),
                        edge_hidden=int(edge_hidden), rounds=int(rounds),
                        set2set_steps=int(set2set_steps), seed=int(seed))
    # === Layers ===
    seeds = iter(range(seed * 1000, seed * 1000 + 1000))
    init = lambda: keras.initializers.GlorotUniform(next(seeds))  # noqa: E731
    self.lin0 = keras.layers.Dense(dim, activation="relu",
                                   kernel_initializer=init(), name="lin0")
    self.edge_net = [
        keras.layers.Dense(edge_hidden, activation="relu",
                           kernel_initializer=init(), name="edge_hidden"),
        keras.layers.Dense(dim * dim, kernel_initializer=init(),
                           name="edge_out")]
    # NNConv's root weight and bias: mᵢ also gets W_root hᵢ + b.
    self.root = keras.layers.Dense(dim, kernel_initializer=init(),
                                   name="root")
    self.gru = keras.layers.GRUCell(dim, kernel_initializer=init(),
                                    recurrent_initializer="orthogonal",
                                    name="gru")
    self.lstm = keras.layers.LSTMCell(dim, kernel_initializer=init(),
                                      recurrent_initializer="orthogonal",
                                      name="set2set_lstm")
    self.lin1 = keras.layers.Dense(dim, activation="relu",
                                   kernel_initializer=init(), name="lin1")
    self.heads = {t: keras.layers.Dense(1, kernel_initializer=init(),
                                        name=f"{t}_head")
                  for t in task_names}
    self._register(
        shared=[self.lin0] + self.edge_net + [self.root, self.gru,
                                              self.lstm, self.lin1],
        per_task={t: [h] for t, h in self.heads.items()})

  def build(self, input_shape=None):  # sublayers build on the first call
    """Marks the model built; its sublayers build on the first call, when
    the number of atoms is known.
    """
    self.built = True

  def call_split(self, inputs, training=False):
    atoms, positions = _inputs(inputs)
    c = self._config
    d = c["dim"]
    x, e, node, edge = graph_features(atoms, positions)
    b, n = tf.shape(atoms)[0], tf.shape(atoms)[1]
    h = self.lin0(x) * node[..., None]
    # A(e) = Σₖ uₖ(e) Wₖ + B, u = ReLU(W_h e + b_h): see edge_messages.
    hidden, out = self.edge_net
    u = hidden(e) * edge[..., None]                   # [B, N, N, H]
    if not out.built:
      out.build(u.shape)
    w = tf.reshape(out.kernel, [-1, d, d])            # [H, d_out, d_in]
    bias = tf.reshape(out.bias, [d, d])
    count = tf.maximum(tf.reduce_sum(edge, -1, keepdims=True), 1.0)
    state = tf.reshape(h, [b * n, d])
    for _ in range(c["rounds"]):
      m = edge_messages(u, w, bias, edge, h) / count
      m = tf.nn.relu(self.root(h) + m)
      out, _ = self.gru(tf.reshape(m, [b * n, d]), [state])
      state = out
      h = tf.reshape(out, [b, n, d]) * node[..., None]
    # Set2Set readout over the molecule's atoms.
    q_star = tf.zeros([b, 2 * d])
    lstm_state = [tf.zeros([b, d]), tf.zeros([b, d])]
    for _ in range(c["set2set_steps"]):
      q, lstm_state = self.lstm(q_star, lstm_state)
      score = tf.einsum("bnd,bd->bn", h, q)
      score = tf.where(node > 0, score, tf.fill(tf.shape(score), -1e9))
      attention = tf.nn.softmax(score, -1) * node
      r = tf.einsum("bn,bnd->bd", attention, h)
      q_star = tf.concat([q, r], -1)
    z = self.lin1(q_star)

    def heads(z):
      return {t: head(z) for t, head in self.heads.items()}
    return z, heads

  # === Config ===
  def get_config(self):
    config = super().get_config()
    config.update(self._config)
    return config
