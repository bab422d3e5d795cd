"""The op table: every primitive op, with its forward, its VJP and its derivative in words.

``table`` holds the table; ``elementwise``, ``reductions``, ``shapes`` and ``losses`` define
the ops by family, and ``base`` the ``Op`` record they all share.
"""

from backproplab.engine.ops.table import *  # noqa: F403 - the table's names, as ops.OPS, ops.add …
