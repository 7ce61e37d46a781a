"""Physics-Informed Gaussians (PIG, Kang et al., ICLR 2025) on the shared `sciml.pde` problem API.

`pig.train(problem)` trains a Gaussian-feature model on any `sciml.pde.Problem` (any domain, Dirichlet /
Neumann / Robin / periodic conditions, systems, inverse problems with `observations=` and `infer=`);
`pig.train_mlp_pinn(problem)` trains the plain MLP PINN baseline in the same harness. Option groups are
objects: `pig.Sampler`, `pig.LossWeights`, `pig.AdamGroups`, `pig.LBFGS`, `pig.Correction`. See docs/pig.md and docs/pde.md.
"""

from ._fields import FieldStack as FieldStack
from ._model import PIG as PIG
from ._model import MLPPINN as MLPPINN
from ._model import BoxNormaliser as BoxNormaliser
from ._model import GaussianEmbedding as GaussianEmbedding
from ._model import TanhMLP as TanhMLP
from ._model import autodiff_jet as autodiff_jet
from ._separable import SeparablePIG as SeparablePIG
from ._correction import Corrected as Corrected
from ._correction import Correction as Correction
from ._train import AdamGroups as AdamGroups
from ._train import LBFGS as LBFGS
from ._train import LossWeights as LossWeights
from ._train import PINNResult as PINNResult
from ._train import Sampler as Sampler
from ._train import eval_points as eval_points
from ._train import fit_model as fit_model
from ._train import lr_groups as lr_groups
from ._train import make_loss as make_loss
from ._train import make_sampler as make_sampler
from ._train import rel_l2 as rel_l2
from ._train import train as train
from ._train import train_mlp_pinn as train_mlp_pinn
from ._train import train_separable as train_separable
