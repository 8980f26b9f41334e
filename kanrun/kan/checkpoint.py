"""Safe single-file checkpoints: ``{format, version, config, symbolic, state}``.

Saved with ``torch.save`` but holding only tensors, numbers, strings, lists and dicts, so
``torch.load(..., weights_only=True)`` reads them without unpickling arbitrary objects.
Tensors are stored on the CPU (no device baked in); files are written atomically.
"""

from __future__ import annotations

from pathlib import Path

import torch

from kanrun.common.atomic import write_with

FORMAT = "kanrun.KAN"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupted or not a kanrun model."""


def model_to_dict(model) -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "config": dict(model.config),
        "grids": [layer.num for layer in model.layers],
        "symbolic": [[list(row) for row in layer.symbolic.names] for layer in model.layers],
        "state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }


def save_model(model, path) -> None:
    """Write ``model`` to ``path`` atomically (a temporary file renamed into place)."""
    blob = model_to_dict(model)
    write_with(path, lambda tmp: torch.save(blob, tmp))


def model_from_dict(blob: dict, device=None):
    from .model import KAN

    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError("not a kanrun KAN checkpoint (format field missing or different)")
    if int(blob.get("version", -1)) > VERSION:
        raise CheckpointError(
            f"checkpoint version {blob.get('version')} is newer than this kanrun reads ({VERSION});"
            " upgrade kanrun")
    try:
        cfg = dict(blob["config"])
        model = KAN(**{**cfg, "noise_scale": 0.0})
        model.config = cfg
        grids = blob.get("grids", [model.grid] * model.depth)
        for l, num in enumerate(grids):
            if num != model.layers[l].num:
                model.layers[l] = model.layers[l]._empty_like(int(num))
        for l, names in enumerate(blob.get("symbolic", [])):
            model.layers[l].symbolic.names = [list(map(str, row)) for row in names]
            model.layers[l].symbolic._names_version += 1
        model.load_state_dict(blob["state"])
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise CheckpointError(f"checkpoint does not match a KAN: {err}") from err
    return model.to(device) if device is not None else model


def load_model(path, device=None):
    """Read a model saved by :func:`save_model`; ``device`` defaults to the CPU."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupted or unsafe files
        raise CheckpointError(f"{path} is not a readable kanrun checkpoint: {err}") from err
    return model_from_dict(blob, device=device)
