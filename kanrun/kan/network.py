"""KANNetwork: a stack of KAN layers with optional multiplication nodes (KAN 2.0).

The network itself: shape, forward, grid updates and grid extension. :class:`KAN`
(:mod:`kanrun.kan.model`) adds training and the pykan-style interpretation methods.

``width`` lists the nodes of each layer. An entry is either ``n`` (n sum nodes) or
``[n_sum, n_mult]``; each multiplication node multiplies ``mult_arity`` consecutive
"subnodes" produced by the layer below. So ``width=[2, [5, 2], 1]`` with arity 2 has a first
layer 2 -> 9 (5 sum subnodes + 2*2 product factors) and a second layer 7 -> 1.

Between layers every subnode and node has an affine map (``subnode_scale/bias``,
``node_scale/bias``; identity and frozen unless ``affine_trainable``).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .cache import TensorCache
from .layer import KANLayer
from .spec import KANConfigError, KANSpec

# fractions of the way to the data's knots tried by a loss-keeping grid update
GRID_MOVES = (1.0, 0.25)


class KANNetwork(nn.Module):
    """The layers and node maps of a KAN, built from a :class:`~kanrun.kan.spec.KANSpec`.

    ``reference_inputs``: the inputs of the last ``model(x)`` (and the training inputs of
    the last ``fit``, or the last ``x`` given to an interpretation method), a reference held
    in memory only so that ``model.plot()``, ``model.prune()``... work without ``x``
    (pykan's habit). Not saved in checkpoints; pruned copies keep its kept columns.
    ``input_ids``: None, or after input pruning the original index of each kept input.
    """

    def __init__(self, spec: KANSpec, device=None):
        super().__init__()
        if not isinstance(spec, KANSpec):
            raise KANConfigError(f"a KAN is built from a KANSpec, got {type(spec).__name__}")
        self.spec = spec
        self.reference_inputs = None
        self.input_ids = None  # after prune_input: the original input index of each input
        dt = spec.torch_dtype
        gen = torch.Generator().manual_seed(spec.seed)
        self.layers = nn.ModuleList(
            KANLayer(self.width_in[li], self.width_subnodes[li + 1], spec, generator=gen,
                     device=device)
            for li in range(self.depth))

        def affine(n, value):
            return nn.Parameter(torch.full((n,), value, dtype=dt, device=device),
                                requires_grad=spec.affine_trainable)

        self.subnode_scale = nn.ParameterList(
            [affine(self.width_subnodes[li + 1], 1.0) for li in range(self.depth)])
        self.subnode_bias = nn.ParameterList(
            [affine(self.width_subnodes[li + 1], 0.0) for li in range(self.depth)])
        self.node_scale = nn.ParameterList(
            [affine(self.width_in[li + 1], 1.0) for li in range(self.depth)])
        self.node_bias = nn.ParameterList(
            [affine(self.width_in[li + 1], 0.0) for li in range(self.depth)])
        self._affine_key = None
        self._affine_identity = True

    # ------------------------------------------------------------------ arguments
    @property
    def config(self) -> dict:
        """The model's arguments as plain values (``spec.as_dict()``)."""
        return self.spec.as_dict()

    @property
    def width(self) -> list[list[int]]:
        """``[[n_sum, n_mult], ...]`` per node layer."""
        return [list(w) for w in self.spec.width]

    @property
    def mult_arity(self) -> list[list[int]]:
        """Per node layer, the arity of each multiplication node."""
        return [list(a) for a in self.spec.mult_arity]

    @property
    def grid(self) -> int:
        """The number of grid intervals the model was built (or last refined) with."""
        return self.spec.grid

    @property
    def k(self) -> int:
        return self.spec.k

    # ------------------------------------------------------------------ shape
    @property
    def depth(self) -> int:
        return self.spec.depth

    @property
    def width_in(self) -> list[int]:
        """Nodes per layer (sum + multiplication)."""
        return self.spec.width_in

    @property
    def width_subnodes(self) -> list[int]:
        """Outputs of the layer feeding each node layer (sum nodes + product factors)."""
        return self.spec.width_subnodes

    @property
    def n_params(self) -> int:
        """Trainable numbers of the numeric model (spline coefficients + scales) on live edges."""
        total = 0
        for layer in self.layers:
            live = int((layer.mask != 0).sum())
            total += live * (layer.n_basis + 2)
        return total

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].coef.dtype

    @property
    def device(self) -> torch.device:
        return self.layers[0].coef.device

    # ------------------------------------------------------------------ forward
    def _affine_active(self) -> bool:
        """Whether the node/subnode affine maps differ from identity (cached on versions)."""
        params = self.__dict__.get("_affine_list")
        if params is None:
            params = [*self.subnode_scale, *self.node_scale, *self.subnode_bias,
                      *self.node_bias]
            self.__dict__["_affine_list"] = params
        key = [p._version for p in params]
        key.append(params[0].data_ptr())
        key.append(any(p.requires_grad for p in params))
        if key != self._affine_key:
            half = len(params) // 2
            self._affine_identity = not any(p.requires_grad for p in params) and all(
                bool((p == 1).all()) for p in params[:half]) and all(
                bool((p == 0).all()) for p in params[half:])
            self._affine_key = key
        return not self._affine_identity

    def _multiply(self, x: torch.Tensor, li: int) -> torch.Tensor:
        """Subnodes (batch, n_sum + sum(arity)) -> nodes (batch, n_sum + n_mult)."""
        return self._multiply_t(x.t(), li).t()

    def _multiply_t(self, xt: torch.Tensor, li: int) -> torch.Tensor:
        """Feature-major multiplication nodes: (subnodes, batch) -> (nodes, batch)."""
        n_sum = self.spec.width[li + 1][0]  # the spec's tuples: no copies on the hot path
        arity = self.spec.mult_arity[li + 1]
        if not arity:
            return xt
        factors = xt[n_sum:]
        if len(set(arity)) == 1:
            prods = factors.reshape(len(arity), arity[0], -1).prod(1)
        else:
            prods = torch.stack([g.prod(0) for g in torch.split(factors, arity, dim=0)])
        return torch.cat([xt[:n_sum], prods], dim=0)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != sum(self.spec.width[0]):
            raise KANConfigError(
                f"input must have shape (batch, {self.width_in[0]}), got {tuple(x.shape)}")

    def cache_inputs(self, enabled: bool) -> None:
        """Reuse work on inputs seen again (fit turns this on for its data tensors)."""
        self.__dict__["_input_cache"] = TensorCache(2) if enabled else None
        self.layers[0].cache_inputs(enabled)

    def _transposed_input(self, x: torch.Tensor) -> torch.Tensor:
        cache = self.__dict__.get("_input_cache")
        if cache is None or x.requires_grad:
            return x.t().contiguous()
        return cache.get((x,), lambda: x.t().contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, in) -> (batch, out). Remembers ``x`` as the sample inputs (see the class)."""
        self._check_input(x)
        self.__dict__["reference_inputs"] = x.detach()
        affine = self._affine_active()
        xt = self._transposed_input(x)
        for li, layer in enumerate(self.layers):
            xt = self._after_layer_t(layer.forward_t(xt), li, affine)
        return xt.t()

    def _after_layer_t(self, xt: torch.Tensor, li: int, affine: bool) -> torch.Tensor:
        if affine:
            xt = xt * self.subnode_scale[li].unsqueeze(1) + self.subnode_bias[li].unsqueeze(1)
        xt = self._multiply_t(xt, li)
        if affine:
            xt = xt * self.node_scale[li].unsqueeze(1) + self.node_bias[li].unsqueeze(1)
        return xt

    def _after_layer(self, x: torch.Tensor, li: int, affine: bool) -> torch.Tensor:
        """Batch-major version of the node maps: (batch, subnodes) -> (batch, nodes)."""
        return self._after_layer_t(x.t(), li, affine).t()

    def forward_edges(self, x: torch.Tensor, numeric_only: bool = False):
        """Forward that also returns, per layer, its input and per-edge activations.

        Returns ``(y, records)``; ``records[l]`` has ``input`` (batch, in), ``edges``
        (batch, in, out) — all edges, or only the numeric ones with ``numeric_only`` —
        ``subnodes`` (batch, out) and ``nodes`` (batch, next width). Differentiable.
        """
        self._check_input(x)
        affine = self._affine_active()
        records = []
        for li, layer in enumerate(self.layers):
            numeric = layer.edge_values(x, numeric_only=True)
            sym = layer.symbolic.edge_values(x) if layer.symbolic.active else None
            total = numeric if sym is None else numeric + sym
            sub = total.sum(1)
            rec = {"input": x, "edges": numeric if numeric_only else total, "subnodes": sub}
            x = self._after_layer(sub, li, affine)
            rec["nodes"] = x
            records.append(rec)
        return x, records

    @torch.no_grad()
    def layer_inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Inputs of every layer for data ``x`` (the last entry is the model output)."""
        self._check_input(x)
        affine = self._affine_active()
        acts = [x]
        for li, layer in enumerate(self.layers):
            x = self._after_layer(layer(x), li, affine)
            acts.append(x)
        return acts

    # ------------------------------------------------------------------ grids
    @torch.no_grad()
    def update_grid(self, x: torch.Tensor, y: torch.Tensor | None = None,
                    tolerance: float = 0.01, loss_fn=None) -> float:
        """Adapt every layer's knots to the distribution of its inputs on data ``x``.

        Re-knotting a coarse spline cannot always represent the old curve exactly. With
        labels ``y`` the update keeps the function: if the RMSE (sqrt of ``loss_fn``, MSE by
        default) on (x, y) would grow by more than ``tolerance`` (relative), the knots move
        only a quarter of the way, or not at all (GRID_MOVES). Returns the fraction moved.
        """
        self._check_input(x)
        x = x.to(self.dtype)
        if y is None:
            self._update_grid(x, 1.0)
            return 1.0
        y = y.to(self.dtype) if y.is_floating_point() else y
        loss = loss_fn or (lambda pred, target: torch.mean((pred - target) ** 2))
        before = float(loss(self(x), y))
        saved = [(layer.knots.clone(), layer.coef.clone()) for layer in self.layers]
        for alpha in GRID_MOVES:
            self._update_grid(x, alpha)
            if float(loss(self(x), y)) <= before * (1.0 + tolerance) ** 2:
                return alpha
            for layer, (knots, coef) in zip(self.layers, saved, strict=True):
                layer.knots.copy_(knots)
                layer.coef.copy_(coef)
        return 0.0

    def _update_grid(self, x: torch.Tensor, alpha: float) -> None:
        affine = self._affine_active()
        for li, layer in enumerate(self.layers):
            layer.update_grid(x, alpha)
            if li + 1 < len(self.layers):  # the next layer's inputs
                x = self._after_layer(layer(x), li, affine)

    @torch.no_grad()
    def refine(self, new_grid: int, x: torch.Tensor | None = None,
               margin: float | None = None) -> KANNetwork:
        """Grid extension: a new model with ``new_grid`` intervals fitted to this one.

        With training inputs ``x`` (default: the remembered inputs of the last ``model(x)``
        or ``fit``, as pykan) the new grids also cover where the data reach; with
        ``margin`` (e.g. 0.05) each grid spans exactly the range of its layer's inputs on
        ``x``, widened by that fraction of the range on each side (see KANLayer.refined).
        """
        if int(new_grid) < 1:
            raise KANConfigError(f"new_grid must be a positive number of intervals, got {new_grid}")
        if x is None:
            x = self.reference_inputs
        acts = self.layer_inputs(x.to(self.dtype)) if x is not None else None
        new = copy.deepcopy(self)
        new.spec = self.spec.replace(grid=int(new_grid))
        for li, layer in enumerate(self.layers):
            new.layers[li] = layer.refined(new.grid, None if acts is None else acts[li], margin)
        return new

    def extra_repr(self) -> str:
        return f"width={self.width}, grid={self.grid}, k={self.k}, dtype={self.spec.dtype}"


__all__ = ["KANNetwork", "GRID_MOVES"]
