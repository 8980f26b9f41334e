"""The one table of floating dtypes by name, for the model (KANSpec), the datasets and the
figures. Which of them a run accepts is the runner's choice (float32 and float64)."""

from __future__ import annotations

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
          "bfloat16": torch.bfloat16}


def torch_dtype(name) -> torch.dtype:
    """``"float64"`` (or ``"torch.float64"``, or a torch dtype) -> ``torch.float64``."""
    if isinstance(name, torch.dtype):
        return name
    key = str(name).replace("torch.", "")
    if key not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {name!r}")
    return DTYPES[key]


__all__ = ["DTYPES", "torch_dtype"]
