"""GIOROM: reduced-order graph neural operator for Lagrangian particle dynamics, with a 2D MLS-MPM
data generator, GNS-compatible data sets, static-shape graphs and a GNS baseline."""

from ._data import (
    ParticleDataset as ParticleDataset,
    compute_metadata as compute_metadata,
    default_radius as default_radius,
    generate_dataset as generate_dataset,
    load_dataset as load_dataset,
    save_dataset as save_dataset,
)
from ._decoder import DecodePlan as DecodePlan, KernelDecoder as KernelDecoder
from ._graph import (
    Graph as Graph,
    Neighbors as Neighbors,
    cell_list_neighbors as cell_list_neighbors,
    check_overflow as check_overflow,
    connected_components as connected_components,
    farthest_point_sampling as farthest_point_sampling,
    radius_neighbors as radius_neighbors,
    radius_neighbors_host as radius_neighbors_host,
    random_sampling as random_sampling,
    sample_reduced_graph as sample_reduced_graph,
    scaled_radius as scaled_radius,
    segment_aggregate as segment_aggregate,
)
from ._models import GIOROM as GIOROM, GNS as GNS, Normalisation as Normalisation, node_features as node_features
from ._mpm import (
    MATERIALS as MATERIALS,
    MPMConfig as MPMConfig,
    Trajectory as Trajectory,
    grid_mass as grid_mass,
    particle_mass as particle_mass,
    polar_rotation_2x2 as polar_rotation_2x2,
    random_block_scene as random_block_scene,
    simulate_batch as simulate_batch,
    simulate_mpm as simulate_mpm,
    svd_2x2 as svd_2x2,
)
from ._pretrained import (
    available_pretrained as available_pretrained,
    load_pretrained as load_pretrained,
    pretrained_recipe as pretrained_recipe,
)
from ._rollout import (
    constant_velocity as constant_velocity,
    decode_frames as decode_frames,
    rollout as rollout,
    rollout_mse as rollout_mse,
    rollout_window as rollout_window,
    time_per_step as time_per_step,
)
from ._train import (
    PushForward as PushForward,
    acceleration_loss as acceleration_loss,
    default_optimizer as default_optimizer,
    finetune as finetune,
    random_walk_noise as random_walk_noise,
    sparse_subsets as sparse_subsets,
    train as train,
    train_decoder as train_decoder,
    window_sampler as window_sampler,
)
