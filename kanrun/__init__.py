"""kanrun: fast, faithful Kolmogorov-Arnold Networks and a runner that turns them into formulas."""

from .kan import KAN, KANLayer, create_dataset, fit, load_model, save_model

__version__ = "0.1.0"
__all__ = ["KAN", "KANLayer", "create_dataset", "fit", "load_model", "save_model", "__version__"]
