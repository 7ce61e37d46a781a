"""Physics-Informed Gaussians (PIG, Kang et al., ICLR 2025) on the shared `sciml.pde` problem API."""

from ._model import PIG as PIG
from ._model import BoxNormaliser as BoxNormaliser
from ._model import GaussianEmbedding as GaussianEmbedding
from ._model import MLPPINN as MLPPINN
from ._model import TanhMLP as TanhMLP
from ._model import autodiff_jet as autodiff_jet
