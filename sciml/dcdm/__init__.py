"""`sciml.dcdm`: the deep conjugate-direction method (Kaneda et al., ICML 2023) for flag-grid Poisson systems.

A CNN ``f ≈ c·A⁻¹`` proposes search directions from the normalised residual; each is A-orthogonalised
against the last two and line-searched exactly (`dcdm.solve`, on `sciml.linalg.conjugate_directions`).
"""

from ._data import RitzData as RitzData, ritz_training_data as ritz_training_data
from ._geometry import add_air_layer as add_air_layer, box_obstacle as box_obstacle
from ._geometry import disk_air as disk_air, empty_box as empty_box, plume_rhs as plume_rhs
from ._geometry import project_range as project_range, random_obstacles as random_obstacles
from ._geometry import sphere_obstacle as sphere_obstacle
from ._network import DCDMNet as DCDMNet, IdentityNet as IdentityNet, MatrixNet as MatrixNet
from ._network import VARIANTS as VARIANTS, count_parameters as count_parameters
from ._pretrained import available_pretrained as available_pretrained, load_pretrained as load_pretrained
from ._pretrained import pretrained_recipe as pretrained_recipe, save_pretrained as save_pretrained
from ._solve import network_direction as network_direction, solve as solve
from ._train import dcdm_loss as dcdm_loss, energy_norms as energy_norms, train as train
