"""A name -> factory table that fails loudly on unknown names."""

from typing import Any, Callable, Dict

from tfmtl.errors import UserError


class Registry:
  """Explicit dict of named factories, one per family (weighting, models...).

  Args:
    family: what the entries are, used in error messages ("weighting method").
    entries: name -> factory (usually a class).
  """

  def __init__(self, family: str, entries: Dict[str, Callable[..., Any]]):
    self.family = family
    self._entries = dict(entries)

  def names(self):
    return sorted(self._entries)

  def __contains__(self, name):
    return name in self._entries

  def factory(self, name: str):
    if name not in self._entries:
      raise UserError(
          f"unknown {self.family} {name!r}; known: {', '.join(self.names())}")
    return self._entries[name]

  def get(self, name: str, **kwargs):
    """Builds entry `name` with `kwargs`; a wrong keyword is a UserError too."""
    factory = self.factory(name)
    try:
      return factory(**kwargs)
    except TypeError as e:
      if "argument" in str(e):
        raise UserError(f"{self.family} {name!r}: {e}") from None
      raise
