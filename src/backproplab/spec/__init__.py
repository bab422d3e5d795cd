"""Worked examples as data: spec files, presets, data sets, formulas, and the job a spec builds.

``bl.spec.read(path)`` reads and checks a spec file; ``.build()`` gives its network and data.
"""

from backproplab.spec.spec import Spec, SpecError, parse, read

__all__ = ["Spec", "SpecError", "parse", "read"]
