"""Symbolic edges of one layer: phi_ij(x) = c * f(a * x + b) + d for edges marked symbolic.

Holds, per edge, a function name from the symbolic library, the affine parameters
``affine[i, j] = (a, b, c, d)`` (one trainable Parameter for the layer) and a 0/1 ``mask``.
Costs nothing while no edge is symbolic; otherwise the active edges are grouped by function
and evaluated in one call per function, with the singularity-safe torch version.

``records[(i, j)]`` keeps why an edge got its function (name, r2, complexity, fitted
parameters, reason, alternatives); it follows the edge through ``subset`` and copies.
"""

from __future__ import annotations

import torch
from torch import nn

from .library import get_function


class SymbolicEdges(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, dtype=None, device=None):
        super().__init__()
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)
        self.register_buffer("mask", torch.zeros(in_dim, out_dim, dtype=dtype, device=device))
        init = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=dtype, device=device)
        self.affine = nn.Parameter(init.repeat(in_dim, out_dim, 1))
        self.names = [["0"] * out_dim for _ in range(in_dim)]
        self.records: dict[tuple[int, int], dict] = {}
        self._names_version = 0
        self._groups_key = None
        self._groups: list = []

    # --------------------------------------------------------------- bookkeeping
    def _grouped(self):
        """Active edges grouped by function name: [(name, i_idx, j_idx)], cached on the mask."""
        key = (self.mask._version, self.mask.data_ptr(), self._names_version)
        if key != self._groups_key:
            by_name: dict = {}
            active = (self.mask != 0).nonzero().tolist()
            for i, j in active:
                by_name.setdefault(self.names[i][j], []).append((i, j))
            dev = self.mask.device
            self._groups = [
                (name,
                 torch.tensor([e[0] for e in edges], dtype=torch.long, device=dev),
                 torch.tensor([e[1] for e in edges], dtype=torch.long, device=dev))
                for name, edges in sorted(by_name.items())
            ]
            self._groups_key = key
        return self._groups

    @property
    def active(self) -> bool:
        return len(self._grouped()) > 0

    def is_symbolic(self, i: int, j: int) -> bool:
        return bool(self.mask[i, j] != 0)

    def set_edge(self, i: int, j: int, name: str, affine=None, record: dict | None = None) -> None:
        """Mark edge (i, j) symbolic with function ``name`` and parameters (a, b, c, d)."""
        get_function(name)  # raises for unknown names
        self.names[i][j] = name
        self._names_version += 1
        with torch.no_grad():
            if affine is not None:
                self.affine[i, j] = torch.as_tensor(affine, dtype=self.affine.dtype,
                                                    device=self.affine.device)
            self.mask[i, j] = 1.0
        if record is not None:
            self.records[(int(i), int(j))] = dict(record)
        else:
            self.records.pop((int(i), int(j)), None)

    def unset_edge(self, i: int, j: int) -> None:
        with torch.no_grad():
            self.mask[i, j] = 0.0
        self.names[i][j] = "0"
        self.records.pop((int(i), int(j)), None)
        self._names_version += 1

    def load_from(self, other: SymbolicEdges) -> None:
        with torch.no_grad():
            self.mask.copy_(other.mask)
            self.affine.copy_(other.affine)
        self.affine.requires_grad_(other.affine.requires_grad)
        self.names = [list(row) for row in other.names]
        self.records = {key: dict(rec) for key, rec in other.records.items()}
        self._names_version += 1

    def subset(self, in_ids, out_ids) -> SymbolicEdges:
        in_l, out_l = [int(i) for i in in_ids], [int(j) for j in out_ids]
        new = SymbolicEdges(len(in_l), len(out_l), dtype=self.mask.dtype, device=self.mask.device)
        with torch.no_grad():
            new.mask.copy_(self.mask[in_l][:, out_l])
            new.affine.copy_(self.affine[in_l][:, out_l])
        new.affine.requires_grad_(self.affine.requires_grad)
        new.names = [[self.names[i][j] for j in out_l] for i in in_l]
        new_in = {i: k for k, i in enumerate(in_l)}
        new_out = {j: k for k, j in enumerate(out_l)}
        new.records = {(new_in[i], new_out[j]): dict(rec) for (i, j), rec in self.records.items()
                       if i in new_in and j in new_out}
        new._names_version = self._names_version + 1
        return new

    # --------------------------------------------------------------- evaluation
    def _edge_terms(self, x, name, ii, jj):
        a, b, c, d = self.affine[ii, jj].unbind(-1)
        fn = get_function(name).torch
        return c * fn(a * x[:, ii] + b) + d  # (batch, n_edges)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, in) -> (batch, out): the sum of the symbolic edges into each output."""
        out = x.new_zeros(x.shape[0], self.out_dim)
        for name, ii, jj in self._grouped():
            out = out.index_add(1, jj, self._edge_terms(x, name, ii, jj))
        return out

    def edge_values(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, in) -> (batch, in, out): each symbolic edge's value (zero elsewhere)."""
        vals = x.new_zeros(x.shape[0], self.in_dim, self.out_dim)
        for name, ii, jj in self._grouped():
            vals[:, ii, jj] = self._edge_terms(x, name, ii, jj)
        return vals

    def extra_repr(self) -> str:
        return f"in={self.in_dim}, out={self.out_dim}, symbolic={int((self.mask != 0).sum())}"
