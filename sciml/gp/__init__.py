"""`sciml.gp`: GP-HM -- Gaussian-process spectral-mixture PDE solver with Kronecker algebra.

Fang et al., "Solving High Frequency and Multi-Scale PDEs with Gaussian Processes", ICLR 2024.
"""

from ._freq import auto_axis_kernel as auto_axis_kernel, periodogram as periodogram
from ._kernels import KERNELS as KERNELS, AxisKernel as AxisKernel, init_axis_kernel as init_axis_kernel
from ._kernels import cross_matrices as cross_matrices, kernel as kernel
from ._kernels import kernel_derivatives as kernel_derivatives, spectral_density as spectral_density
from ._kernels import toeplitz_matrices as toeplitz_matrices
from ._model import GridSpec as GridSpec, axis_factors as axis_factors, neg_log_joint as neg_log_joint
from ._model import dense_neg_log_joint as dense_neg_log_joint, derivative_grids as derivative_grids
from ._model import neg_log_joint_vec as neg_log_joint_vec
from ._posterior import Posterior as Posterior
from ._problem import grid_spec_and_residual as grid_spec_and_residual
from ._solve import Adam as Adam, GPParams as GPParams, GPResult as GPResult, Profiled as Profiled
from ._solve import solve as solve
