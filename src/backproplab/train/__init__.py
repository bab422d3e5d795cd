"""Training: the one loop (``loop.fit``) and the record of a run (``Trace``), with its JSON form."""
