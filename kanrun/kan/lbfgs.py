"""L-BFGS with a strong-Wolfe line search on one flat parameter vector.

Same iteration semantics as ``torch.optim.LBFGS(line_search_fn="strong_wolfe")`` (which
pykan uses): up to ``max_iter`` iterations and ``max_eval`` evaluations per ``step``, the
curvature history kept across steps; the iteration itself is
:class:`~kanrun.kan.lbfgs_batched.BatchedLBFGS` with one member. The difference is cost, which matters for the small
models of science where every evaluation takes a millisecond or less:

- parameters are views of one flat tensor, so a trial point is one copy;
- gradients come from ``torch.autograd.grad`` straight into that layout (no accumulation);
- the optimizer's own arithmetic (directions, dot products, the line search) runs in
  float64 NumPy on the host; the curvature pairs live in preallocated buffers and the
  two-loop recursion runs on their small matrix of dot products;
- on the CPU the flat vector is read and written through a NumPy view (no tensor copies),
  and a closure may return its loss and gradient as a float and a NumPy array.
"""

from __future__ import annotations

import numpy as np
import torch

from .lbfgs_batched import BatchedLBFGS


class FlatParameters:
    """Make ``params`` views of one flat vector; :meth:`release` gives them storage back."""

    def __init__(self, params):
        self.params = list(params)
        first = self.params[0]
        total = sum(p.numel() for p in self.params)
        self.x = torch.empty(total, dtype=first.dtype, device=first.device)
        offset = 0
        for p in self.params:
            n = p.numel()
            self.x[offset : offset + n].copy_(p.detach().reshape(-1))
            p.data = self.x[offset : offset + n].view_as(p)
            offset += n
        self.view = None  # NumPy view of x where the dtype and device allow one
        if self.x.device.type == "cpu" and self.x.dtype in (torch.float32, torch.float64):
            self.view = self.x.numpy()

    def get(self) -> np.ndarray:
        if self.view is not None:
            return self.view.astype(np.float64)
        return self.x.detach().cpu().numpy().astype(np.float64)

    def set(self, values: np.ndarray) -> None:
        if self.view is not None:
            self.view[...] = values  # bypasses torch's version counter (nothing keys on it)
        else:
            self.x.copy_(torch.from_numpy(values).to(self.x.dtype))

    def release(self) -> None:
        for p in self.params:
            p.data = p.data.clone()


class LBFGS:
    """L-BFGS over ``params`` (tensors with ``requires_grad``); call :meth:`step`.

    The closure returns the loss (with its graph; it must not call ``backward`` itself), or
    a pair ``(loss, flat_gradient)`` already computed in the order of ``params``. The
    iteration is :class:`~kanrun.kan.lbfgs_batched.BatchedLBFGS` with one member, so a
    model fitted alone and one fitted in an ensemble take the same steps.
    """

    def __init__(self, params, lr=1.0, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, c1=1e-4, c2=0.9, max_ls=25):
        self.flat = FlatParameters(params)
        self.engine = BatchedLBFGS(self.flat.get()[None], lr=lr, max_iter=max_iter,
                                   max_eval=max_eval, tolerance_grad=tolerance_grad,
                                   tolerance_change=tolerance_change,
                                   history_size=history_size, c1=c1, c2=c2, max_ls=max_ls)

    def close(self):
        self.flat.release()

    def _evaluate(self, closure):
        params = self.flat.params
        with torch.enable_grad():
            out = closure()
            if isinstance(out, tuple):  # (loss, flat gradient) computed by the closure
                loss, flat = out
                if isinstance(flat, np.ndarray):
                    return float(loss), flat.astype(np.float64, copy=False)
            else:
                grads = torch.autograd.grad(out, params, allow_unused=True)
                loss = out
                flat = torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                                  for g, p in zip(grads, params)])
        return float(loss.detach()), flat.detach().cpu().numpy().astype(np.float64)

    # the engine's history, for one member
    def _push(self, s, y, ys):
        self.engine._push(np.zeros(1, dtype=np.int64), s[None], y[None], np.array([ys]))

    def _direction(self, g):
        return self.engine._direction(np.zeros(1, dtype=np.int64), g[None])[0]

    def step(self, closure):
        """Up to ``max_iter`` L-BFGS iterations from the current parameters."""

        def objective(x):
            self.flat.set(x[0])
            loss, g = self._evaluate(closure)
            return np.array([loss]), g[None]

        loss = self.engine.step(objective, x=self.flat.get()[None])[0]
        self.flat.set(self.engine.x[0])
        return loss
