"""`sciml.plot`: the figures that `sciml demo` and the examples draw, as PNG files.

Each function builds a `matplotlib.figure.Figure` (no pyplot state, no backend switch), writes it to `path` and
returns `path`. matplotlib is imported on first use; install it with `pip install "sciml[plot]"`.
"""

from ._figures import (
    gaussian_features as gaussian_features,
    particle_frames as particle_frames,
    pressure_slice as pressure_slice,
    residual_histories as residual_histories,
    save_figure as save_figure,
    spacetime_rollouts as spacetime_rollouts,
)
