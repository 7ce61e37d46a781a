"""`sciml.pde`: one PDE definition (domain, residual on a jet, conditions, exact solution) for every solver."""

from ._domain import Ball as Ball, Box as Box, CSG as CSG, Domain as Domain, Polygon as Polygon
from ._domain import difference as difference, intersection as intersection, union as union
from ._jet import AbstractJet as AbstractJet, ArrayJet as ArrayJet, FunctionJet as FunctionJet
from ._jet import required_derivatives as required_derivatives
from ._problem import Dirichlet as Dirichlet, Initial as Initial, Neumann as Neumann, Periodic as Periodic
from ._problem import Problem as Problem, Robin as Robin
from ._problem import manufactured as manufactured
from ._problems import (
    advection_spacetime as advection_spacetime,
    allen_cahn_1d as allen_cahn_1d,
    allen_cahn_1d_steady as allen_cahn_1d_steady,
    allen_cahn_2d_steady as allen_cahn_2d_steady,
    flow_mixing as flow_mixing,
    helmholtz_2d as helmholtz_2d,
    klein_gordon as klein_gordon,
    nonlinear_diffusion as nonlinear_diffusion,
    poisson_1d as poisson_1d,
    poisson_2d as poisson_2d,
)


def reference_solution(problem, grid, times, **kwargs):
    """Trusted float64 reference for a time-dependent [`Problem`][sciml.pde.Problem] without a closed form
    (diffrax method of lines: Fourier pseudo-spectral for Allen–Cahn, finite differences with Richardson
    extrapolation for nonlinear diffusion). diffrax is imported on first call.

    **Arguments:**

    - `problem`: a `Problem` named `"allen_cahn_1d"` or `"nonlinear_diffusion"` (as made by
      [`allen_cahn_1d`][sciml.pde.allen_cahn_1d] / [`nonlinear_diffusion`][sciml.pde.nonlinear_diffusion]);
      coefficients are read from `problem.params` and the initial condition from its `Initial` condition.
    - `grid`: spatial evaluation grid: an int or a tuple with one entry per spatial axis, each either a number of
      points (`linspace(lower, upper, n)`, end points included) or a 1D coordinate array.
    - `times`: increasing 1D array of output times (≥ the domain's lower time bound).
    - `resolution` (keyword): Fourier modes (Allen–Cahn, default 2048) or finite-difference nodes per axis
      (diffusion, default 129, with 257 for the Richardson partner).
    - `richardson` (keyword): diffusion only: extrapolate from resolutions `n` and `2n − 1` (default `True`).
    - `rtol`, `atol` (keyword): diffrax step-size controller tolerances (defaults `1e-10`, `1e-12`).
    - `solver` (keyword): a diffrax solver (default `None`: `diffrax.Dopri8()`).
    - `max_steps` (keyword): diffrax step cap (default 200 000).
    - `return_stats` (keyword): also return a dict of solver statistics (`{"num_steps": ...}`); default `False`.

    **Returns:** a float64 NumPy array of shape `(len(times), *spatial_grid)` (spatial axes in the domain's order,
    the time axis removed); with `return_stats=True` a tuple `(array, stats)`.

    **Raises:** `ValueError` for a problem without a reference solver or non-increasing `times`.

    **Example:**

    ```python
    ref = pde.reference_solution(pde.allen_cahn_1d(), grid=(512,), times=np.linspace(0, 1, 101))
    ```
    """
    from ._reference import reference_solution as _ref

    return _ref(problem, grid, times, **kwargs)
