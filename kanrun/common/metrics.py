"""The root-mean-square error, written once for NumPy arrays and torch tensors alike."""

from __future__ import annotations

import math

import numpy as np


def rmse(pred, target) -> float:
    """sqrt(mean((pred - target)**2)) as a Python float, computed in the inputs' own library
    and dtype (two NumPy arrays or two torch tensors); NaN or inf where the error is not
    finite (callers decide what that means)."""
    err = pred - target
    with np.errstate(all="ignore"):
        return math.sqrt(float((err * err).mean()))
