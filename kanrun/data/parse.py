"""The formula parser as the datasets use it: `kanrun.common.parse`, whose errors are
re-raised as DatasetError (the one error type of `kanrun.data`)."""

from __future__ import annotations

from collections.abc import Iterable

import sympy

from kanrun.common import parse as _common
from kanrun.common.parse import FormulaSyntaxError, allowed_names_help
from kanrun.data.errors import DatasetError

__all__ = ["allowed_names_help", "check_variable_name", "parse_formula"]


def parse_formula(
    text: str,
    variables: Iterable[str] | None = None,
    *,
    allow_special: bool = False,
) -> sympy.Expr:
    """:func:`kanrun.common.parse.parse_formula`, raising DatasetError."""
    try:
        return _common.parse_formula(text, variables, allow_special=allow_special)
    except FormulaSyntaxError as err:
        raise DatasetError(str(err)) from None


def check_variable_name(name: object) -> None:
    """:func:`kanrun.common.parse.check_variable_name`, raising DatasetError."""
    try:
        _common.check_variable_name(name)
    except FormulaSyntaxError as err:
        raise DatasetError(str(err)) from None
