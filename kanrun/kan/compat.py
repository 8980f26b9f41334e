"""pykan's names for things kanrun does its own way, mixed into :class:`kanrun.kan.model.KAN`.

So that a script written for pykan 0.2.8 runs with only its import line changed:
``saveckpt``/``loadckpt`` (one safe checkpoint file instead of pykan's three), ``copy``,
``speed`` (a no-op: kanrun is always in pykan's speed mode until an edge is symbolic),
``get_act`` (per-layer activation records, returned rather than stored), the attribution
scores ``node_scores``/``edge_scores``/``subnode_scores`` (computed on the remembered
inputs when read), ``update_grid_from_samples`` and ``evaluate``/``n_edge``.

None of these prints or writes a file unless asked (``saveckpt`` writes the file it is
given).
"""

from __future__ import annotations

import copy as _copy
from pathlib import Path

import torch


def checkpoint_path(path) -> Path:
    """pykan's ``saveckpt('model')`` names a stem: ours writes ``model.pt`` (or the .pt given)."""
    path = Path(path)
    return path if path.suffix == ".pt" else path.with_name(path.name + ".pt")


class PykanMixin:
    """pykan-compatible conveniences (see the module docstring)."""

    # ------------------------------------------------------------ io and copies
    def saveckpt(self, path="model") -> Path:
        """Save config and weights to one file ``path + '.pt'``; returns the path written.

        pykan writes ``path_config.yml``, ``path_state`` and ``path_cache_data``; kanrun
        writes one file read back by :meth:`loadckpt` or :func:`kanrun.load_model`.
        The remembered sample inputs are not saved.
        """
        from .checkpoint import save_model

        target = checkpoint_path(path)
        if target.parent and not target.parent.exists():
            target.parent.mkdir(parents=True)
        save_model(self, target)
        return target

    @staticmethod
    def loadckpt(path="model", device=None):
        """Load a model written by :meth:`saveckpt` (``path`` with or without ``.pt``)."""
        from .checkpoint import load_model

        return load_model(checkpoint_path(path), device=device)

    def copy(self):
        """An independent deep copy (weights, symbolic edges, remembered inputs)."""
        return _copy.deepcopy(self)

    def speed(self, compile: bool = False):  # noqa: A002 - pykan's name
        """A no-op kept for pykan scripts: returns the model itself.

        pykan's ``speed()`` switches off its symbolic branch and the saved activations;
        kanrun never pays for either (the symbolic branch costs nothing until an edge is
        symbolic, activations are computed only on request). ``compile`` is ignored.
        """
        return self

    # ------------------------------------------------------------ activations and scores
    def get_act(self, x=None) -> list[dict]:
        """Per-layer activation records on ``x`` (a tensor or a dataset dict; default: the
        remembered inputs of the last ``model(x)``/``fit``).

        ``records[l]`` holds ``input`` (batch, in), ``edges`` (batch, in, out) — every edge's
        activation phi_ij(x_i) — ``subnodes`` and ``nodes``. pykan stores these on the
        model (``acts``, ``spline_postacts``); kanrun returns them.
        """
        from .attribution import edge_records

        return edge_records(self, self._inputs(x))

    @property
    def node_scores(self) -> list[torch.Tensor]:
        """Attribution score of every node, per layer (0 = inputs), on the remembered inputs."""
        return self.attribute().node_scores

    @property
    def edge_scores(self) -> list[torch.Tensor]:
        """Attribution score of every edge, per layer, shape (in, out) (pykan: (out, in))."""
        return self.attribute().edge_scores

    @property
    def subnode_scores(self) -> list[torch.Tensor]:
        """Attribution score of every subnode, per layer."""
        return self.attribute().subnode_scores

    @torch.no_grad()
    def update_grid_from_samples(self, x) -> None:
        """pykan's name for :meth:`update_grid` (knots follow the samples ``x``)."""
        self.update_grid(self._inputs(x))

    # ------------------------------------------------------------ small summaries
    @property
    def n_edge(self) -> int:
        """Number of live numeric edges."""
        return int(sum(int((layer.mask != 0).sum()) for layer in self.layers))

    @torch.no_grad()
    def evaluate(self, dataset: dict) -> dict:
        """``test_loss`` (RMSE on the test split), ``n_edge`` and ``n_grid``, as in pykan."""
        x = dataset["test_input"].to(device=self.device, dtype=self.dtype)
        y = dataset["test_label"].to(device=self.device, dtype=self.dtype)
        rmse = float(torch.sqrt(torch.mean((self(x) - y) ** 2)))
        return {"test_loss": rmse, "n_edge": self.n_edge, "n_grid": self.grid}


__all__ = ["PykanMixin", "checkpoint_path"]
