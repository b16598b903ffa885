"""RLW: T·softmax of normal draws, keyed on (seed, step)."""

import numpy as np
import tensorflow as tf

from tfmtl.tasks import Task
from tfmtl.weighting.rlw import RLW


def test_weights_sum_to_t_and_are_seeded():
  rlw = RLW(seed=7)
  rlw.build([Task(n, lambda y, p: y) for n in "abc"])
  losses = tf.ones([3])
  draws = np.stack([rlw(losses, tf.constant(s)) for s in range(200)])
  np.testing.assert_allclose(draws.sum(1), 3.0, rtol=1e-5)
  assert np.all(draws > 0)
  np.testing.assert_array_equal(rlw(losses, tf.constant(5)), draws[5])
  fn = tf.function(rlw.__call__)
  np.testing.assert_allclose(fn(losses, tf.constant(5)), draws[5], rtol=1e-6)
  assert np.std(draws[:, 0]) > 0.1  # random across steps
  # Exchangeable: no task favoured. The mean of 200 draws of w_t (std
  # ~0.7) scatters by ~0.05 (0.03 here); checked at 0.35.
  np.testing.assert_allclose(draws.mean(0), 1.0, atol=0.35)


def _libmtl_rlw(draw):
  """numpy transcription of LibMTL/weighting/RLW.py: w = softmax(λ) with
  λ = torch.randn(T) (its normal distribution; Σw = 1)."""
  e = np.exp(draw - draw.max())
  return e / e.sum()


def test_distribution_and_normalisation_match_libmtl():
  """LibMTL/weighting/RLW.py. The draws differ (torch's RNG vs our
  stateless one), so what is compared is the rule given the draw and the
  draw's distribution:
  - given our λ (stateless_normal keyed on (seed, step), seed-matched here),
    w = T · LibMTL's softmax(λ) at every step: our convention is Σw = T,
    LibMTL's 1 (float32 softmax of the same draw: ~3e-7 relative;
    checked at 1e-5);
  - λ is standard normal like torch.randn, so c = log w − mean(log w) =
    λ − mean(λ) has mean 0 over many steps. (Its variance, 1 − 1/T, is
    that of TF's own normal once every step's draw is checked; a sample
    variance of 2000 steps scatters by 3%, too close to any tolerance.)
  """
  t, seed = 3, 7
  rlw = RLW(seed=seed)
  rlw.build([Task(n, lambda y, p: y) for n in "abc"])
  losses = tf.ones([t])
  cs = []
  for step in range(2000):
    got = rlw(losses, tf.constant(step)).numpy()
    draw = tf.random.stateless_normal(
        [t], tf.constant([seed, step], tf.int64)).numpy()
    np.testing.assert_allclose(got, t * _libmtl_rlw(draw), rtol=1e-5)
    cs.append(np.log(got) - np.log(got).mean())
  cs = np.array(cs)
  # The mean of 2000 draws of λ_t − mean(λ) (variance 2/3) scatters by
  # 0.018 (0.015 here); checked at 0.15.
  np.testing.assert_allclose(cs.mean(0), 0.0, atol=0.15)


def test_absent_task_softmax_over_the_present_draws():
  """The draws don't depend on who is present; the softmax runs over the
  present tasks: w_present = P · softmax(λ_present), the absent task 0."""
  rlw = RLW(seed=7)
  rlw.build([Task(n, lambda y, p: y) for n in "abcd"])
  losses = tf.ones([4])
  mask = np.array([True, False, True, True])
  for s in range(5):
    full = rlw(losses, tf.constant(s)).numpy()  # 4·softmax(λ)
    got = rlw(losses, tf.constant(s), present=tf.constant(mask)).numpy()
    want = np.where(mask, 3 * full / full[mask].sum(), 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-5)
  none = rlw(losses, tf.constant(0), present=tf.constant([False] * 4))
  np.testing.assert_array_equal(none, np.zeros(4))
