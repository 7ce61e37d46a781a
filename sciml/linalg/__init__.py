"""`sciml.linalg`: stencil Poisson operators on flag grids, Kronecker operators, Krylov solvers, Lanczos."""

from ._poisson import AIR as AIR, FLUID as FLUID, SOLID as SOLID
from ._poisson import PoissonOperator as PoissonOperator, poisson_operator as poisson_operator
from ._poisson import stencil_apply as stencil_apply
from ._solution import Solution as Solution
from ._solution import SUCCESSFUL as SUCCESSFUL, MAX_STEPS_REACHED as MAX_STEPS_REACHED, BREAKDOWN as BREAKDOWN
from ._solution import STAGNATED as STAGNATED, INCOMPATIBLE_RHS as INCOMPATIBLE_RHS
from ._krylov import cg as cg, pcg as pcg, conjugate_directions as conjugate_directions, jacobi as jacobi
from ._kronecker import KroneckerOperator as KroneckerOperator, KroneckerSumOperator as KroneckerSumOperator
from ._kronecker import kron_mv as kron_mv
from ._lanczos import lanczos as lanczos, ritz_vectors as ritz_vectors
from lineax import diagonal as diagonal
from ._multigrid import MultigridPreconditioner as MultigridPreconditioner
from ._multigrid import coarsen_flags as coarsen_flags, multigrid_preconditioner as multigrid_preconditioner
from ._fft_poisson import DCTPoissonSolver as DCTPoissonSolver, dct_poisson_solve as dct_poisson_solve
from ._fft_poisson import dct_poisson_solver as dct_poisson_solver
