"""PDEBench-style data for CAPE: generators (advection, Burgers, diffusion-reaction) and HDF5 I/O."""

from ._data import Dataset as Dataset
from ._data import advection_1d as advection_1d
from ._data import advection_1d_solve as advection_1d_solve
from ._data import burgers_1d as burgers_1d
from ._data import burgers_1d_solve as burgers_1d_solve
from ._data import cell_centres as cell_centres
from ._data import concatenate as concatenate
from ._data import diffusion_reaction_1d as diffusion_reaction_1d
from ._data import diffusion_reaction_1d_solve as diffusion_reaction_1d_solve
from ._data import initial_condition as initial_condition
from ._data import read_pdebench as read_pdebench
from ._data import write_pdebench as write_pdebench
