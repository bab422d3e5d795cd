"""One module per engine; each has ``make(workload, **options) -> (step, first)``.

``step()`` runs one training step. ``first()`` returns the loss and the gradients (by
parameter name) of the first step from the starting values, for the agreement check.
"""
