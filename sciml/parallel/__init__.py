"""`sciml.parallel`: device meshes, data-parallel sharding, domain-decomposed stencil mv / CG (shard_map)."""

from ._data import make_mesh as make_mesh, replicate as replicate, shard_batch as shard_batch
