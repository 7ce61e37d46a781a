"""`sciml.cape`: CAPE, parameter-guided channel attention for neural PDE surrogates (Takamoto, Alesiani,
Niepert, ICML 2023), with PDEBench-style data generators, FNO / U-Net bases, baselines, curriculum training
and PDEBench metrics. See `docs/cape.md`."""

from . import datasets as datasets
from ._data import Dataset as Dataset
from ._metrics import evaluate as evaluate
from ._metrics import frame_errors as frame_errors
from ._metrics import nrmse as nrmse
from ._metrics import persistence_nrmse as persistence_nrmse
from ._metrics import predict as predict
from ._metrics import rmse as rmse
from ._metrics import rollout as rollout
from ..nn import FNO as FNO  # the shared layers, re-exported for cape.CAPEModel(base=cape.FNO(...))
from ..nn import SpectralConv as SpectralConv
from ..nn import UNet as UNet
from ..nn import count_params as count_params
from ._models import CAPE as CAPE
from ._models import CAPEBlockNNX as CAPEBlockNNX
from ._models import Base as Base
from ._models import CAPEModel as CAPEModel
from ._models import Conditional as Conditional
from ._models import FiLM as FiLM
from ._models import make_model as make_model
from ._train import RolloutLoss as RolloutLoss
from ._train import TrainReport as TrainReport
from ._train import Warmup as Warmup
from ._train import default_optimizer as default_optimizer
from ._train import curriculum_t_ar as curriculum_t_ar
from ._train import param_stats as param_stats
from ._train import rollout_loss as rollout_loss
from ._train import train as train
from ._train import warmup_loss as warmup_loss
from ._train import warmup_filter as warmup_filter
