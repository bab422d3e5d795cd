"""The pictures a learner needs: loss curves, descent paths, predictions, networks.

Every function returns a matplotlib ``Figure`` (or draws into the ``ax=`` it is given), built
without pyplot, so it works headless, in scripts and papers, and displays itself in Jupyter.
The worked example fixes two colours: the loss curve is pink and the new predictions are
green; everything else uses the colour-blind-safe Okabe–Ito palette and viridis. Iterations
are counted from 1, as the terminal counts them.
"""

from backproplab.plots.base import (
                                    DARK,
                                    GREEN,
                                    LOSS_LABELS,
                                    MAX_PATH_POINTS,
                                    OKABE_ITO,
                                    PINK,
                                    LabFigure,
                                    loss_at,
                                    subsample,
)
from backproplab.plots.boundary import decision_boundary
from backproplab.plots.contour import loss_contour
from backproplab.plots.curves import loss_curve, loss_history
from backproplab.plots.fits import animate_descent, final_fit, fit_series, predictions, residuals
from backproplab.plots.minimum import Minimum, find_minimum
from backproplab.plots.network import Layout, network_diagram, network_layout

__all__ = ["DARK", "GREEN", "LOSS_LABELS", "MAX_PATH_POINTS", "OKABE_ITO", "PINK", "LabFigure", "Layout", "Minimum",
           "animate_descent", "decision_boundary", "final_fit", "find_minimum", "fit_series", "loss_at",
           "loss_contour", "loss_curve", "loss_history", "network_diagram", "network_layout", "predictions",
           "residuals", "subsample"]
