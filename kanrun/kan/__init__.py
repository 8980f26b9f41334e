"""The KAN library: torch (+ sympy for formulas); no configs, no files unless asked."""

from .checkpoint import CheckpointError, load_model, save_model
from .dataset import create_dataset
from .ensemble import KANEnsemble
from .fit import FitError, NonFiniteLossError, fit
from .layer import KANLayer, KANLayerError
from .model import KAN, KANConfigError
from .symbolic import register_function

__all__ = [
    "KAN", "KANEnsemble", "KANLayer", "create_dataset", "fit", "save_model", "load_model",
    "KANConfigError", "KANLayerError", "FitError", "NonFiniteLossError", "CheckpointError",
    "register_function",
]
