"""`sciml.train`: the one training loop (optax, jitted step, tqdm, JSONL metrics, orbax checkpoints)."""

from ._io import load_model as load_model, save_model as save_model
from ._loop import TrainResult as TrainResult, TrainingError as TrainingError
from ._loop import array_batches as array_batches, fit as fit, restore as restore
