"""Loss and gradient of a plain KAN without the autograd engine.

Small science models spend most of an L-BFGS evaluation on framework overhead, not on
arithmetic. For the common case — numeric edges only, silu base, identity node maps, no
multiplication nodes, mean-squared error, no penalty — :class:`PlainObjective` runs the
layers' forward and backward functions (:mod:`kanrun.kan.kernels`, the same ones the
autograd node uses) directly and returns the flat gradient in the optimizer's order.
"""

from __future__ import annotations

import torch

from .kernels import layer_backward, layer_forward


class PlainObjective:
    """``objective(x, y) -> (mse, flat_grad)`` for the parameters ``params`` of ``model``."""

    def __init__(self, model, params):
        self.model = model
        self.params = list(params)
        self.slots = {}
        for l, layer in enumerate(model.layers):
            for name in ("coef", "scale_base", "scale_sp"):
                self.slots[id(getattr(layer, name))] = (l, name)

    @staticmethod
    def supports(model, params, loss_is_mse: bool, penalty: bool) -> bool:
        if not loss_is_mse or penalty or model._affine_active():
            return False
        if any(arity for arity in model.mult_arity):
            return False
        known = set()
        for layer in model.layers:
            if layer.base_fun_name != "silu" or layer.symbolic.active:
                return False
            known.update(id(getattr(layer, n)) for n in ("coef", "scale_base", "scale_sp"))
            known.update(id(p) for p in layer.symbolic.parameters())  # inactive: zero gradient
        return all(id(p) in known for p in params)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, y: torch.Tensor):
        model = self.model
        a = model._transposed_input(x)
        saved = []
        for l, layer in enumerate(model.layers):
            basis_t, base_t = layer._cached_inputs(a)
            a, sv = layer_forward(a, base_t, layer.coef, layer.scale_base, layer.scale_sp,
                                  layer.mask, layer.grid, layer.tables(), layer.k, basis_t,
                                  need_dx=l > 0)
            saved.append(sv)
        diff = a - y.t()
        loss = (diff * diff).mean()
        g = diff * (2.0 / diff.numel())
        grads = {}
        for l in range(len(model.layers) - 1, -1, -1):
            layer = model.layers[l]
            need = (l > 0, False, True, layer.scale_base.requires_grad,
                    layer.scale_sp.requires_grad)
            g_x, _, g_coef, g_sb, g_sp = layer_backward(saved[l], g, need)
            grads[(l, "coef")], grads[(l, "scale_base")], grads[(l, "scale_sp")] = (
                g_coef, g_sb, g_sp)
            g = g_x
        flat = []
        for p in self.params:
            slot = self.slots.get(id(p))
            grad = grads.get(slot) if slot is not None else None
            flat.append((grad if grad is not None else torch.zeros_like(p)).reshape(-1))
        return loss, torch.cat(flat)
