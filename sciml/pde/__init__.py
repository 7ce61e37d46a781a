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
    """Trusted reference for time-dependent problems without a closed form (diffrax method of lines, float64).

    See `sciml.pde._reference.reference_solution` for the arguments.
    """
    from ._reference import reference_solution as _ref

    return _ref(problem, grid, times, **kwargs)
