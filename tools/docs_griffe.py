"""A Griffe extension for the API pages: docstrings' standalone indented
blocks (formulas, small tables, examples) become fenced code, and an
"Args:" entry of several names ("height, width: ...") one entry a name.

tfmtl's docstrings indent formulas by two spaces, which Markdown would run
into the surrounding paragraph; `tools.docs_site.fence_indented` keeps
their layout. Loaded by mkdocstrings (mkdocs.yml, `extensions`).
"""

import os
import sys

import griffe

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tools.docs_site import fence_indented, split_shared_args  # pylint: disable=g-import-not-at-top,wrong-import-position


class FenceIndented(griffe.Extension):
  """Rewrites every docstring's standalone indented blocks as fences and
  its entries of several parameters as one entry each."""

  def on_object(self, *, obj, **kwargs):
    del kwargs
    if obj.docstring is not None:
      obj.docstring.value = split_shared_args(
          fence_indented(obj.docstring.value))
