"""kanrun: fast, faithful Kolmogorov-Arnold Networks and a runner that turns them into formulas.

``from kanrun import KAN, create_dataset`` — the library lives in :mod:`kanrun.kan`; it is
imported on first use so that the command line starts without loading torch. pykan scripts
run with their import line changed (``from kanrun import *``; ``kan.utils`` is
:mod:`kanrun.utils`).
"""

__version__ = "0.1.0"
_LIBRARY = ("KAN", "KANSpec", "KANEnsemble", "KANLayer", "create_dataset", "fit", "load_model",
            "save_model", "register_function", "KANConfigError", "KANLayerError", "FitError",
            "NonFiniteLossError", "CheckpointError")
_UTILS = ("ex_round",)
__all__ = [*_LIBRARY, *_UTILS, "__version__"]


def __getattr__(name):
    if name in _LIBRARY:
        from . import kan

        return getattr(kan, name)
    if name in _UTILS:
        from . import utils

        return getattr(utils, name)
    raise AttributeError(f"module 'kanrun' has no attribute {name!r}")


def __dir__():
    return sorted({*__all__, "kan", "utils", "data", "pipeline"})
