"""SegNet-Dense (the MTAN paper's "Dense" baseline): harness checks."""

from tests.models import harness


class TestSegNetDense(harness.DenseModelHarness):
  name = "segnet_dense"
  kwargs = {"width": 0.125}
  has_representation = False
