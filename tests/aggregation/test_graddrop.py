"""GradDrop: the sign-consistency of its output and seeded determinism."""

import numpy as np
import tensorflow as tf

from tfmtl.aggregation.graddrop import GradDrop


def test_output_keeps_one_sign_per_coordinate():
  # TorchJD's J_base (tests/unit/aggregation/test_values.py gives [6, 2, 2]
  # for its RNG): column 0 has purity 0.6, so it is 6 (positive kept) or −4;
  # columns 1 and 2 have purity 1 and are always 2.
  J = tf.constant([[-4.0, 1.0, 1.0], [6.0, 1.0, 1.0]])
  seen = set()
  for step in range(20):
    out = GradDrop(seed=0)(J, step=step).numpy()
    assert out[0] in (6.0, -4.0)
    np.testing.assert_array_equal(out[1:], [2.0, 2.0])
    seen.add(out[0])
  assert seen == {6.0, -4.0}


def test_deterministic_in_seed_and_step_and_leak():
  J = tf.constant(np.random.default_rng(0).normal(size=(3, 50)), tf.float32)
  agg = GradDrop(seed=4)
  np.testing.assert_array_equal(agg(J, step=2), agg(J, step=2))
  assert not np.array_equal(agg(J, step=2), agg(J, step=3))
  fn = tf.function(lambda j, s: agg(j, step=s))
  np.testing.assert_array_equal(fn(J, tf.constant(2)), agg(J, step=2))
  np.testing.assert_allclose(GradDrop(leak=[1.0, 1.0, 1.0])(J),
                             tf.reduce_sum(J, 0), rtol=1e-6)


def _libmtl_graddrop(per_grads, inputs, u, leak):
  """numpy transcription of LibMTL/weighting/GradDrop.py (rep_grad = True,
  one representation shared by all tasks): per_grads [T, B, D] are the task
  gradients w.r.t. the representation, inputs [B, D] the representation;
  U ~ Uniform(0, 1) [D] is passed in. Returns what LibMTL backpropagates
  into the representation, Σ_t per_grads_t ⊙ (leak + (1 − leak) M_t)."""
  grads = (per_grads * np.sign(inputs)[None]).sum(1)  # [T, D]
  p = 0.5 * (1 + grads.sum(0) / (np.abs(grads).sum(0) + 1e-7))
  m = (p > u)[None] * (grads > 0) + (p < u)[None] * (grads < 0)  # [T, D]
  m = np.repeat(m[:, None, :], per_grads.shape[1], axis=1)
  return (per_grads * (leak + (1 - leak) * m)).sum(0)


def test_one_step_matches_libmtl_with_the_same_uniforms():
  """LibMTL/weighting/GradDrop.py on random gradients, with LibMTL's
  torch.rand_like draw replaced by ours (stateless_uniform keyed on (seed,
  step)), so the masks are seed-matched and the comparison is exact.

  What is compared: LibMTL applies GradDrop to the gradients w.r.t. a
  representation of a batch (purity from Σ_batch sign(input)·∂L_t/∂rep);
  we apply it to the rows of J. With a batch of one and positive inputs
  (sign 1), LibMTL's per-representation gradients are exactly J's rows and
  the two rules coincide: purity, mask and the leaked sum (LibMTL's scalar
  leak = our per-task leak, all equal). The 1e-7 LibMTL adds to Σ|g| only
  differs from our divide_no_nan at columns that are all 0.
  """
  rng = np.random.default_rng(4)
  t, n, seed = 3, 40, 9
  for step, leak in [(0, 0.0), (5, 0.0), (7, 0.3)]:
    J = rng.normal(size=(t, n))
    J[:, :5] = np.abs(J[:, :5])  # some columns of purity 1
    u = tf.random.stateless_uniform(
        [n], tf.constant([seed, step], tf.int64)).numpy()
    want = _libmtl_graddrop(J[:, None, :], np.ones((1, n)), u, leak)[0]
    agg = GradDrop(seed=seed, leak=None if leak == 0 else [leak] * t)
    got = agg(tf.constant(J, tf.float32), step=step).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    if leak == 0:  # the mask dropped something: not the plain sum
      assert np.abs(got - J.sum(0)).max() > 0.1
