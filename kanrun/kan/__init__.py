"""The KAN library: torch (+ sympy for formulas); no configs, no files unless asked."""

from .checkpoint import CheckpointError
from .dataset import create_dataset
from .ensemble import KANEnsemble
from .fit import FitError, NonFiniteLossError, fit
from .layer import KANLayer, KANLayerError
from .model import KAN, load_model, save_model
from .spec import KANConfigError, KANSpec
from .symbolic import register_function

__all__ = [
    "KAN", "KANSpec", "KANEnsemble", "KANLayer", "create_dataset", "fit", "save_model",
    "load_model",
    "KANConfigError", "KANLayerError", "FitError", "NonFiniteLossError", "CheckpointError",
    "register_function",
]
