"""pykan's ``kan.utils`` names, so ``from kan.utils import create_dataset, ex_round`` becomes
``from kanrun.utils import create_dataset, ex_round``."""

from __future__ import annotations

from .kan.dataset import create_dataset


def ex_round(expr, n_digit: int):
    """The sympy expression ``expr`` with every float rounded to ``n_digit`` decimals."""
    from .kan.symbolic.export import round_floats

    return round_floats(expr, int(n_digit))


__all__ = ["create_dataset", "ex_round"]
