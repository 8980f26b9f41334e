"""Which loss-and-gradient an L-BFGS fit evaluates: one protocol, one documented rule.

Every objective here computes the same numbers as autograd through the model (the tests
compare them to 1e-12 in float64), only faster for the models they serve:

- :class:`~kanrun.kan.fastpath_numpy.NumpyObjective`: NumPy, per-interval polynomials;
  small plain models on the CPU, with or without the L1 + entropy penalty;
- :class:`~kanrun.kan.fastpath.PlainObjective`: torch without the autograd engine, the
  layers' own kernels (:mod:`kanrun.kan.kernels`); plain models, no penalty;
- None: autograd through the model (everything else).
"""

from __future__ import annotations

from typing import Protocol

from .fastpath import PlainObjective, serves
from .fastpath_numpy import NumpyObjective, numpy_serves


class Objective(Protocol):
    """``value_and_grad(x, y) -> (loss, flat gradient)`` of the parameters it was built
    for, in their order; ``last_mse`` / ``last_reg``: the parts of the last loss (reg None
    without a penalty). An objective may also have ``mse(x, y) -> float``, the model's
    mean-squared error without gradients, which fit then takes for the test loss."""

    last_mse: object
    last_reg: object

    def value_and_grad(self, x, y): ...


def choose_objective(model, params, *, loss_is_mse: bool, lamb: float = 0.0,
                     lamb_l1: float = 1.0, lamb_entropy: float = 2.0, lamb_coef: float = 0.0,
                     lamb_coefdiff: float = 0.0) -> Objective | None:
    """The autograd-free objective for training ``params`` of ``model``, or None (autograd).

    The rule, first match wins:

    1. the loss is not the mean-squared error, the model is not plain
       (:func:`kanrun.kan.fastpath.is_plain`: symbolic edges, another base function than
       silu, multiplication nodes, node affine maps) or a parameter is not a layer's
       ``coef`` / ``scale_base`` / ``scale_sp`` -> None;
    2. a coefficient penalty (``lamb_coef``, ``lamb_coefdiff`` with ``lamb`` > 0) -> None;
    3. the model is small and on the CPU (:func:`kanrun.kan.fastpath_numpy.numpy_serves`)
       -> :class:`NumpyObjective`, with the L1 + entropy penalty when ``lamb`` > 0;
    4. no penalty -> :class:`PlainObjective`;
    5. otherwise None.
    """
    penalized = lamb > 0 and bool(lamb_l1 or lamb_entropy or lamb_coef or lamb_coefdiff)
    if not loss_is_mse or not serves(model, params):
        return None
    if penalized and (lamb_coef or lamb_coefdiff):
        return None
    if numpy_serves(model):
        return NumpyObjective(model, params,
                              (lamb, lamb_l1, lamb_entropy) if penalized else None)
    if not penalized:
        return PlainObjective(model, params)
    return None
