"""The lesson page as a notebook widget: ``bl.widgets.Lesson()`` (needs ``pip install ".[notebook]"``).

It hosts the very front end that ``backproplab serve`` serves, in a frame inside the notebook's
output, and answers the page's requests from Python instead of over HTTP: the page draws only
what the lesson document holds, so the widget, the server and an exported file cannot disagree.
Change ``lr``, ``optimize``, ``start`` (and the rest) from Python or in the page, and Python
works the run out again; ``iteration`` follows the page, and ``trace`` / ``trace_so_far()``
give the run as a :class:`~backproplab.trace.Trace`.
"""

from backproplab.widgets.lesson import Lesson

__all__ = ["Lesson"]
