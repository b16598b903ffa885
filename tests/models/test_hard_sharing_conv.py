"""Hard-sharing conv baseline: harness checks with a hand-counted size."""

from tests.models import harness


def _conv_bn(cin, cout, k=3):
  return k * k * cin * cout + 2 * cout  # no bias (BN follows), γ and β


class TestHardSharingConv(harness.DenseModelHarness):
  name = "hard_sharing_conv"
  kwargs = {"filters": [8, 16], "head_filters": 8}
  sizes = ((32, 64), (16, 48))  # total stride 4
  keras_export = True
  expected_trainable_params = (
      _conv_bn(3, 8) + _conv_bn(8, 8) + _conv_bn(8, 16) + _conv_bn(16, 16) +
      2 * _conv_bn(16, 8) + (8 * 1 + 1) + (8 * 7 + 7))
