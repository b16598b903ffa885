"""Registries fail loudly, naming the known entries."""

import pytest

from tfmtl import aggregation, data, methods, models, weighting
from tfmtl.errors import UserError


@pytest.mark.parametrize("get, family", [
    (weighting.get, "weighting method"), (aggregation.get,
                                          "aggregation method"),
    (models.get, "model"), (data.get, "data source"), (methods.get, "method"),
])
def test_unknown_name_lists_known(get, family):
  with pytest.raises(UserError, match=f"unknown {family} 'nope'; known: "):
    get("nope")


def test_wrong_keyword_is_a_user_error():
  with pytest.raises(UserError, match="gradnorm has no option 'alpah' "
                     r"\(did you mean 'alpha'\?\); its options: alpha, lr"):
    weighting.get("gradnorm", alpah=1.0)


def test_methods_span_both_families():
  names = methods.names()
  assert {"fixed", "uncertainty", "gradnorm", "sum", "mean"} <= set(names)
