"""A name -> factory table that fails loudly on unknown names.

Every registry also takes user code: a name `package.module:attribute`
imports that module (the working directory is on the import path) and uses
the attribute as the factory, so `--config.model.name=mymodels:build` trains
a model of one's own.
"""

import importlib
import os
import sys
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
    if ":" in name:
      return import_object(name, self.family)
    if name not in self._entries:
      raise UserError(
          f"unknown {self.family} {name!r}; known: {', '.join(self.names())}")
    return self._entries[name]

  def get(self, name: str, **kwargs):
    """Builds entry `name` with `kwargs`; a wrong keyword is a UserError too.

    A user factory (`module:attribute`) gets only the keywords its signature
    takes when it has no **kwargs (models are offered `task_names`).
    """
    factory = self.factory(name)
    if ":" in name:
      kwargs = _accepted(factory, kwargs, optional={"task_names"})
    try:
      return factory(**kwargs)
    except TypeError as e:
      if "argument" in str(e):
        raise UserError(f"{self.family} {name!r}: {e}") from None
      raise


def import_object(spec: str, family: str = "object"):
  """The object named by "package.module:attribute" (dots may follow)."""
  module_name, _, attribute = spec.partition(":")
  if not module_name or not attribute:
    raise UserError(f"{family} {spec!r}: write user code as "
                    "package.module:attribute")
  if os.getcwd() not in sys.path:
    sys.path.insert(0, os.getcwd())
  try:
    obj = importlib.import_module(module_name)
  except ModuleNotFoundError as e:
    raise UserError(
        f"{family} {spec!r}: cannot import module {e.name!r}; run from the "
        "directory that holds it or add it to PYTHONPATH") from None
  for part in attribute.split("."):
    if not hasattr(obj, part):
      raise UserError(f"{family} {spec!r}: module {module_name!r} has no "
                      f"attribute {attribute!r}")
    obj = getattr(obj, part)
  return obj


def _accepted(factory, kwargs, optional):
  """kwargs without the `optional` keys the factory's signature lacks."""
  import inspect  # pylint: disable=g-import-not-at-top
  try:
    params = inspect.signature(factory).parameters
  except (TypeError, ValueError):
    return kwargs
  if any(p.kind == p.VAR_KEYWORD for p in params.values()):
    return kwargs
  return {k: v for k, v in kwargs.items()
          if k in params or k not in optional}
