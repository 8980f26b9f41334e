"""Safe single-file checkpoints: ``{format, version, config, grids, symbolic, state}``.

``config`` is the model's :class:`~kanrun.kan.spec.KANSpec` as a dict (``spec.as_dict()``),
``grids`` the number of intervals of each layer (refined layers may differ from the spec's
``grid``), ``symbolic`` each layer's symbolic function names and ``state`` the state dict.
Saved with ``torch.save`` but holding only tensors, numbers, strings, lists and dicts, so
``torch.load(..., weights_only=True)`` reads them without unpickling arbitrary objects.
Tensors are stored on the CPU (no device baked in); files are written atomically.

Versions: 1 named each layer's knot vector ``layers.N.grid`` in ``state``; 2 names it
``layers.N.knots`` (version-1 files are read by renaming those keys).

This module knows the file format only; :func:`kanrun.kan.model.load_model` and
:func:`~kanrun.kan.model.save_model` are the entry points (the model class is passed in, so
this module sits below the model).
"""

from __future__ import annotations

from pathlib import Path

import torch

from kanrun.common.atomic import write_with

from .spec import KANSpec

FORMAT = "kanrun.KAN"
VERSION = 2


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupted or not a kanrun model."""


def pykan_path(path) -> Path:
    """pykan's ``saveckpt('model')`` names a stem: ours writes ``model.pt`` (or the .pt given)."""
    path = Path(path)
    return path if path.suffix == ".pt" else path.with_name(path.name + ".pt")


def model_to_dict(model) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "config": model.spec.as_dict(),
        "grids": [layer.n_intervals for layer in model.layers],
        "symbolic": [[list(row) for row in layer.symbolic.names] for layer in model.layers],
        "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }


def write(blob: dict, path) -> None:
    """Write a checkpoint dict to ``path`` atomically (a temporary file renamed into place)."""
    write_with(path, lambda tmp: torch.save(blob, tmp))


def read(path) -> dict:
    """The checkpoint dict stored at ``path`` (loaded on the CPU, weights only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupted or unsafe files
        raise CheckpointError(f"{path} is not a readable kanrun checkpoint: {err}") from err


def model_from_dict(blob: dict, model_class, device=None):
    """A ``model_class`` (:class:`~kanrun.kan.model.KAN`) restored from a checkpoint dict."""
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError("not a kanrun KAN checkpoint (format field missing or different)")
    if int(blob.get("version", -1)) > VERSION:
        raise CheckpointError(
            f"checkpoint version {blob.get('version')} is newer than this kanrun reads ({VERSION});"
            " upgrade kanrun")
    try:
        spec = KANSpec.from_dict(dict(blob["config"]))
        model = model_class.from_spec(spec.replace(noise_scale=0.0))
        model.spec = spec
        for li, num in enumerate(blob.get("grids", [spec.grid] * spec.depth)):
            if num != model.layers[li].n_intervals:
                model.layers[li] = model.layers[li]._empty_like(int(num))
        for li, names in enumerate(blob.get("symbolic", [])):
            model.layers[li].symbolic.names = [list(map(str, row)) for row in names]
            model.layers[li].symbolic._names_version += 1
        model.load_state_dict(_current_state(blob["state"], int(blob.get("version", 1))))
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"checkpoint does not match a KAN: {err}") from err
    return model.to(device) if device is not None else model


def _current_state(state: dict, version: int) -> dict:
    """A state dict of an older version with today's names."""
    if version >= 2:
        return state
    return {(k[:-len(".grid")] + ".knots" if k.startswith("layers.") and k.endswith(".grid")
             else k): v for k, v in state.items()}


__all__ = ["CheckpointError", "FORMAT", "VERSION", "model_to_dict", "model_from_dict", "read",
           "write", "pykan_path"]
