"""`sciml.parallel`: device meshes, data-parallel sharding, domain-decomposed stencil mv / CG (shard_map),
multi-host set-up (`jax.distributed`)."""

from ._data import make_mesh as make_mesh, replicate as replicate, shard_batch as shard_batch
from ._distributed import initialize as initialize
from ._stencil import sharded_cg as sharded_cg, sharded_mv as sharded_mv
from ._multigrid import sharded_mg_pcg as sharded_mg_pcg
