"""A stack of plain KANs of one shape and grid size, evaluated as one batched model.

Layer l of the stack is a :class:`~kanrun.kan.layer.KANLayer` with ``members * in`` input
rows (member-major): its knots, coefficients, scales and mask are the members' stacked
along the inputs, so the knot-wise operations (basis tables, grid update, least-squares
refit) are the layer's own. Only the contraction differs: member m's outputs sum over its
own input rows, one batched matrix product (``bmm``) per layer. The loss and gradient are
computed without the autograd engine (the forward and backward of
:mod:`kanrun.kan.kernels` with ``members``), the sparsity penalty by :mod:`kanrun.kan.penalty`.
"""

from __future__ import annotations

import numpy as np
import torch

from . import spline
from .cache import TensorCache
from .fastpath import is_plain
from .fastpath_numpy import BatchedCore, first_inputs, forward_mse
from .fit import FitError
from .kernels import layer_backward, layer_forward
from .layer import KANLayer
from .penalty import layer_penalty_t

CHUNK = 8  # members per evaluation (32 [2,5,1] fits, compiled: ~1.5 s with 8, ~1.65 with 16 or 32)


class Stack:
    """Members of equal width, grid and k; ``datasets`` one per member (equal sizes)."""

    def __init__(self, members, datasets, lambs, lamb_l1=1.0, lamb_entropy=2.0):
        first = members[0]
        for member in members:
            if not is_plain(member):
                raise FitError("ensembles fit plain KANs only (silu base, no multiplication "
                               "nodes, no symbolic edges, identity node maps)")
            if member.width != first.width or member.k != first.k:
                raise FitError("ensemble members must share width and k")
        self.members = list(members)
        self.m = len(members)
        dtype, device = first.dtype, first.device
        self.dtype, self.device = dtype, device
        self.layers = []
        for li, proto in enumerate(first.layers):
            stacked = KANLayer(self.m * proto.in_dim, proto.out_dim, grid=proto.n_intervals,
                               k=proto.k, noise_scale=0.0, grid_eps=proto.grid_eps,
                               sp_trainable=proto.scale_sp.requires_grad,
                               sb_trainable=proto.scale_base.requires_grad,
                               dtype=dtype, device=device)
            with torch.no_grad():
                for name in ("grid", "coef", "scale_base", "scale_sp", "mask"):
                    getattr(stacked, name).copy_(
                        torch.cat([getattr(mem.layers[li], name) for mem in members]))
            self.layers.append(stacked)
        self.slots = []  # (layer, name, numbers per member)
        for li, layer in enumerate(self.layers):
            per = layer.in_dim // self.m * layer.out_dim
            self.slots.append((li, "coef", per * layer.n_basis))
            if layer.scale_base.requires_grad:
                self.slots.append((li, "scale_base", per))
            if layer.scale_sp.requires_grad:
                self.slots.append((li, "scale_sp", per))
        self.n_params = sum(n for _, _, n in self.slots)
        self.lamb_values = [float(v) for v in lambs]
        self.lamb = torch.tensor(self.lamb_values, dtype=dtype, device=device)
        self.penalized = bool((self.lamb > 0).any())
        self.lamb_l1, self.lamb_entropy = float(lamb_l1), float(lamb_entropy)
        self.train = self._stack_data(datasets, "train")
        self.test = self._stack_data(datasets, "test")
        self.last_reg, self.last_mse = np.zeros(self.m), np.zeros(self.m)
        self._basis_cache = TensorCache(4)  # first layer: data -> dense basis

    def __len__(self) -> int:
        return self.m

    def _stack_data(self, datasets, split):
        xs, ys = [], []
        n_in = self.members[0].width_in[0]
        for data in datasets:
            for key in (f"{split}_input", f"{split}_label"):
                if key not in data:
                    raise FitError(f"data is missing {key!r}")
            x, y = data[f"{split}_input"], data[f"{split}_label"]
            if x.dim() != 2 or x.shape[1] != n_in or y.dim() != 2 or y.shape[0] != x.shape[0]:
                raise FitError(f"{split} data must be (n, {n_in}) inputs with (n, out) labels")
            xs.append(x.to(device=self.device, dtype=self.dtype))
            ys.append(y.to(device=self.device, dtype=self.dtype))
        if len({x.shape[0] for x in xs}) != 1:
            raise FitError(f"the members' {split} sets must have equal sizes")
        xt = torch.cat([x.t() for x in xs]).contiguous()  # (m * in, batch)
        yt = torch.stack([y.t() for y in ys]).contiguous()  # (m, out, batch)
        return xt, yt

    # ----------------------------------------------------------------- parameters
    def get(self) -> np.ndarray:
        parts = [getattr(self.layers[li], name).detach().reshape(self.m, n)
                 for li, name, n in self.slots]
        return torch.cat(parts, 1).to(torch.float64).cpu().numpy()

    def set(self, x: np.ndarray) -> None:
        flat = torch.from_numpy(np.ascontiguousarray(x)).to(device=self.device,
                                                              dtype=self.dtype)
        start = 0
        with torch.no_grad():
            for li, name, n in self.slots:
                p = getattr(self.layers[li], name)
                p.copy_(flat[:, start : start + n].reshape(p.shape))
                start += n

    def write_back(self) -> None:
        with torch.no_grad():
            for li, layer in enumerate(self.layers):
                rows = layer.in_dim // self.m
                for i, member in enumerate(self.members):
                    for name in ("grid", "coef", "scale_base", "scale_sp", "mask"):
                        getattr(member.layers[li], name).copy_(
                            getattr(layer, name)[i * rows : (i + 1) * rows])

    # ----------------------------------------------------------------- evaluation
    def _first_basis(self, xt):
        layer = self.layers[0]

        def compute():
            vals, cols, _ = spline.fast_local_basis(xt, layer.knots, layer.k, False,
                                                    layer.tables())
            return spline.dense_basis(vals, cols, layer.n_basis).view(-1, xt.shape[1])

        return self._basis_cache.get((xt, layer.knots), compute)

    def _layer_forward(self, li, xt, need_dx):
        """(m * in, batch) -> (m * out, batch), and what the backward pass needs (the
        layers' own kernel, :func:`kanrun.kan.kernels.layer_forward`, for m members)."""
        layer = self.layers[li]
        basis_t = self._first_basis(xt) if li == 0 and not need_dx else None
        return layer_forward(xt, None, layer.coef, layer.scale_base, layer.scale_sp,
                             layer.mask, layer.knots, layer.tables(), layer.k, basis_t,
                             need_dx, members=self.m)

    def _layer_backward(self, li, gy, saved, need_dx):
        """gy (m, out, batch) -> input gradient (m * in, batch) or None, and the parameter
        gradients {name: (m * in, out[, nb])}."""
        g_x, _, g_coef, g_sb, g_sp = layer_backward(saved, gy, (need_dx, False, True, True,
                                                                True), members=self.m)
        return g_x, {"coef": g_coef, "scale_base": g_sb, "scale_sp": g_sp}

    @torch.no_grad()
    def forward(self, xt):
        for li in range(len(self.layers)):
            xt, _ = self._layer_forward(li, xt, False)
        return xt

    @torch.no_grad()
    def loss_and_grad(self, waiting=None):
        """Per member: loss (MSE + lamb * penalty) and flat gradient, as NumPy (all
        members are evaluated; ``waiting`` is for subclasses that can skip some)."""
        xt, yt = self.train
        depth = len(self.layers)
        saved, inputs = [], []
        for li in range(depth):
            inputs.append(xt)
            xt, sv = self._layer_forward(li, xt, need_dx=li > 0)
            saved.append(sv)
        out = self.layers[-1].out_dim
        diff = xt.view(self.m, out, -1) - yt
        count = diff.shape[1] * diff.shape[2]
        loss = mse = (diff * diff).sum((1, 2)) / count
        gy = diff * (2.0 / count)
        extra_x = [None] * depth
        extra_p = [None] * depth
        reg = None
        if self.penalized:
            reg = loss.new_zeros(self.m)
            for li in range(depth):
                r, gx_pen, gp_pen = layer_penalty_t(
                    self.layers[li], inputs[li], saved[li], self.m, self.lamb,
                    self.lamb_l1, self.lamb_entropy, need_dx=li > 0)
                reg = reg + r
                extra_x[li], extra_p[li] = gx_pen, gp_pen
            loss = loss + self.lamb * reg
        grads = {}
        for li in range(depth - 1, -1, -1):
            g_x, g_p = self._layer_backward(li, gy, saved[li], need_dx=li > 0)
            if extra_p[li] is not None:
                for name, g in extra_p[li].items():
                    g_p[name] = g_p[name] + g
            grads[li] = g_p
            if li > 0:
                if extra_x[li] is not None:
                    g_x = g_x + extra_x[li]
                gy = g_x.view(self.m, self.layers[li - 1].out_dim, -1)
        flat = torch.cat([grads[li][name].reshape(self.m, n) for li, name, n in self.slots], 1)
        self.last_reg = (reg.to(torch.float64).cpu().numpy() if reg is not None
                         else np.zeros(self.m))
        self.last_mse = mse.to(torch.float64).cpu().numpy()
        return (loss.to(torch.float64).cpu().numpy(),
                flat.to(torch.float64).cpu().numpy())

    @torch.no_grad()
    def test_loss(self) -> np.ndarray:
        xt, yt = self.test
        out = self.layers[-1].out_dim
        diff = self.forward(xt).view(self.m, out, -1) - yt
        return (diff * diff).mean((1, 2)).to(torch.float64).cpu().numpy()

    @torch.no_grad()
    def update_grid(self) -> None:
        """Each member's grid update on its training inputs (as ``KAN.update_grid``)."""
        xt = self.train[0]
        for li, layer in enumerate(self.layers):
            layer.update_grid(xt.t())
            xt, _ = self._layer_forward(li, xt, False)
        self._basis_cache.clear()


class NumpyStack(Stack):
    """A :class:`Stack` evaluated by the NumPy objective of single models
    (:class:`~kanrun.kan.fastpath_numpy.BatchedCore`): on the CPU in float32/64 every
    member's loss and gradient are those of its solo fit, bit for bit."""

    def __init__(self, members, datasets, lambs, lamb_l1=1.0, lamb_entropy=2.0):
        super().__init__(members, datasets, lambs, lamb_l1, lamb_entropy)
        m = self.m
        self._inputs = {split: [d[f"{split}_input"].to(device=self.device, dtype=self.dtype)
                                for d in datasets] for split in ("train", "test")}
        arrays = []  # NumPy views of the stacked tensors, member axis first
        for layer in self.layers:
            rows = layer.in_dim // m
            arrays.append(tuple(getattr(layer, name).detach().numpy().reshape(
                m, rows, *getattr(layer, name).shape[1:])
                for name in ("coef", "scale_base", "scale_sp", "mask")))
        self.grad = np.zeros((m, self.n_params))
        where, start = {}, 0
        for li, name, n in self.slots:
            shape = arrays[li][0 if name == "coef" else 1].shape
            where[(li, name)] = self.grad[:, start : start + n].reshape(shape)  # a view
            start += n
        dest = [tuple(where.get((li, name)) for name in ("coef", "scale_base", "scale_sp"))
                for li in range(len(self.layers))]
        lamb = np.array(self.lamb_values) if self.penalized else None
        # members in chunks of CHUNK: arrays that stay in cache, and chunks whose members
        # all finished their step are skipped
        self.parts = [slice(c, min(c + CHUNK, m)) for c in range(0, m, CHUNK)]
        self.cores = [BatchedCore([tuple(a[part] for a in layer) for layer in arrays],
                                  [tuple(None if d is None else d[part] for d in layer)
                                   for layer in dest],
                                  None if lamb is None else lamb[part], lamb_l1, lamb_entropy)
                      for part in self.parts]
        x_train, y_train = self.train
        # per chunk, sliced once: the compiled evaluation keeps its plan for these objects
        target = y_train.numpy()
        x0 = x_train.numpy().reshape(m, -1, x_train.shape[1])
        test_target = self.test[1].numpy()
        self._target = [target[part] for part in self.parts]
        self._x0 = [x0[part] for part in self.parts]
        self._test_target = [test_target[part] for part in self.parts]
        index = {"coef": 0, "scale_base": 1, "scale_sp": 2}
        self._views = [arrays[li][index[name]] for li, name, _ in self.slots]
        self._knots_changed()

    def _knots_changed(self):
        """The constants of the knots, computed member by member from the members' own
        layers (what their solo fits compute; see first_inputs)."""
        for core, part in zip(self.cores, self.parts, strict=True):
            core.set_knots([member.layers for member in self.members[part]])
        def chunks(split):  # one array per chunk of members
            return [np.concatenate([first_inputs(member.layers[0], x.t().contiguous())
                                    for member, x in zip(self.members[part],
                                                         self._inputs[split][part],
                                                         strict=True)])
                    for part in self.parts]

        self._first, self._first_test = chunks("train"), chunks("test")

    def get(self) -> np.ndarray:
        return np.concatenate([v.reshape(self.m, -1) for v in self._views], 1).astype(
            np.float64)

    def set(self, x: np.ndarray) -> None:
        start = 0  # NumPy assignment, as the solo fit's FlatParameters.set
        for view, (_, _, n) in zip(self._views, self.slots, strict=True):
            view[...] = x[:, start : start + n].reshape(view.shape)
            start += n

    def test_loss(self) -> np.ndarray:
        return np.concatenate([forward_mse(core, first, target) for core, first, target in
                               zip(self.cores, self._first_test, self._test_target,
                                   strict=True)])

    @torch.no_grad()
    def update_grid(self) -> None:
        """Each member's own ``update_grid`` on its training inputs (the code of its solo
        fit), then back into the stack."""
        self.write_back()
        for member, x in zip(self.members, self._inputs["train"], strict=True):
            member.update_grid(x)
        for li, layer in enumerate(self.layers):
            rows = layer.in_dim // self.m
            for i, member in enumerate(self.members):
                for name in ("grid", "coef", "scale_base", "scale_sp", "mask"):
                    getattr(layer, name)[i * rows : (i + 1) * rows].copy_(
                        getattr(member.layers[li], name))
        self._basis_cache.clear()
        self._knots_changed()

    def loss_and_grad(self, waiting=None):
        """As :meth:`Stack.loss_and_grad`; members outside ``waiting`` (a mask) may be
        skipped (their entries are then stale)."""
        total = np.zeros(self.m)
        for c, (core, part) in enumerate(zip(self.cores, self.parts, strict=True)):
            if waiting is not None and not waiting[part].any():
                continue
            total[part] = core.evaluate(self._first[c], self._target[c], self._x0[c])
            self.last_mse[part] = core.last_mse
            self.last_reg[part] = 0.0 if core.last_reg is None else core.last_reg
        return total, self.grad.copy()
