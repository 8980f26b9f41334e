"""Loss and gradient of a plain KAN without the autograd engine, in torch.

Small science models spend most of an L-BFGS evaluation on framework overhead, not on
arithmetic. For a *plain* model (:func:`is_plain`: numeric edges only, silu base, identity
node maps, no multiplication nodes) and the mean-squared error, :class:`PlainObjective`
runs the layers' forward and backward functions (:mod:`kanrun.kan.kernels`, the same ones
the autograd node uses) directly and returns the flat gradient in the optimizer's order.
:mod:`kanrun.kan.objective` says which objective a fit uses.
"""

from __future__ import annotations

import torch

from .cache import TensorCache
from .kernels import layer_backward, layer_forward

SLOT_NAMES = ("coef", "scale_base", "scale_sp")  # the trained tensors of a plain layer


def is_plain(model) -> bool:
    """Numeric edges only, silu base, no multiplication nodes, identity node maps."""
    if any(arity for arity in model.mult_arity):
        return False
    if any(layer.base_fun_name != "silu" or layer.symbolic.active for layer in model.layers):
        return False
    with torch.no_grad():
        scales = [*model.subnode_scale, *model.node_scale]
        biases = [*model.subnode_bias, *model.node_bias]
        return (not any(p.requires_grad for p in scales + biases)
                and all(bool((p == 1).all()) for p in scales)
                and all(bool((p == 0).all()) for p in biases))


def slot_of(model, p):
    """``(layer index, name)`` of parameter ``p`` among the layers' :data:`SLOT_NAMES`;
    ``(l, None)`` for a symbolic parameter of layer l, None for anything else."""
    for li, layer in enumerate(model.layers):
        for name in SLOT_NAMES:
            if getattr(layer, name) is p:
                return li, name
        if any(q is p for q in layer.symbolic.parameters()):
            return li, None
    return None


def serves(model, params) -> bool:
    """Whether the autograd-free objectives can train ``params`` of ``model``: a plain
    model, and parameters that are the layers' (symbolic ones of a plain model are idle:
    their gradient is zero)."""
    return is_plain(model) and all(slot_of(model, p) is not None for p in params)


class PlainObjective:
    """``value_and_grad(x, y) -> (mse, flat_grad)`` (torch) for ``params`` of ``model``."""

    def __init__(self, model, params):
        self.model = model
        self.params = list(params)
        self.slots = [slot_of(model, p) for p in self.params]
        self.last_mse = self.last_reg = None
        self._inputs = TensorCache(2)  # feature-major copies of the data tensors

    @torch.no_grad()
    def value_and_grad(self, x: torch.Tensor, y: torch.Tensor):
        model = self.model
        a = self._inputs.get((x,), lambda: x.t().contiguous())
        saved = []
        for li, layer in enumerate(model.layers):
            basis_t, base_t = layer.cached_inputs(a)
            a, sv = layer_forward(a, base_t, layer.coef, layer.scale_base, layer.scale_sp,
                                  layer.mask, layer.knots, layer.tables(), layer.k, basis_t,
                                  need_dx=li > 0, fuse=True)
            saved.append(sv)
        diff = a - y.t()
        loss = (diff * diff).mean()
        g = diff * (2.0 / diff.numel())
        grads = {}
        for li in range(len(model.layers) - 1, -1, -1):
            layer = model.layers[li]
            need = (li > 0, False, True, layer.scale_base.requires_grad,
                    layer.scale_sp.requires_grad)
            g_x, _, g_coef, g_sb, g_sp = layer_backward(saved[li], g, need, k=layer.k)
            grads[(li, "coef")], grads[(li, "scale_base")], grads[(li, "scale_sp")] = (
                g_coef, g_sb, g_sp)
            g = g_x
        flat = []
        for p, slot in zip(self.params, self.slots, strict=True):
            grad = grads.get(slot)
            flat.append((grad if grad is not None else torch.zeros_like(p)).reshape(-1))
        self.last_mse = loss
        return loss, torch.cat(flat)
