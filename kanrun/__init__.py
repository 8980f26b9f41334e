"""kanrun: fast, faithful Kolmogorov-Arnold Networks and a runner that turns them into formulas.

``from kanrun import KAN, create_dataset`` — the library lives in :mod:`kanrun.kan`; it is
imported on first use so that the command line starts without loading torch.
"""

__version__ = "0.1.0"
_LIBRARY = ("KAN", "KANEnsemble", "KANLayer", "create_dataset", "fit", "load_model", "save_model")
__all__ = [*_LIBRARY, "__version__"]


def __getattr__(name):
    if name in _LIBRARY:
        from . import kan

        return getattr(kan, name)
    raise AttributeError(f"module 'kanrun' has no attribute {name!r}")
