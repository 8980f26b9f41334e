"""fold_phases: phases folded into [-pi/2, pi/2]; a phase of +-pi/2 swaps sin and cos."""

from __future__ import annotations

import math

import pytest
import sympy

from kanrun.kan.symbolic.export import PHASE_SNAP, fold_phases

x = sympy.Symbol("x")


@pytest.mark.parametrize("expr, expected", [
    (sympy.cos(3.1416 * x - 1.5708), sympy.sin(3.1416 * x)),
    (sympy.cos(2 * x + 1.5708), -sympy.sin(2 * x)),
    (sympy.sin(x + 1.5707), sympy.cos(x)),
    (sympy.sin(x - 1.5709), -sympy.cos(x)),
    (sympy.cos(x + 1.5708 + math.pi), sympy.sin(x)),   # folded by pi first (sign flip)
    (sympy.sin(x + 3.0 * math.pi + 0.25), -sympy.sin(x + 0.25)),
])
def test_phases_fold_and_snap(expr, expected):
    got = fold_phases(expr)
    assert sympy.simplify(got - expected) == 0 or abs(
        float((got - expected).subs(x, 0.3))) < 1e-12, got
    # the folded expression is the same function up to the snap tolerance
    for v in (-0.7, 0.1, 0.9):
        assert abs(float(expr.subs(x, v)) - float(got.subs(x, v))) < 2 * PHASE_SNAP


def test_a_phase_away_from_pi_half_is_kept():
    expr = sympy.cos(x - 1.5)
    assert fold_phases(expr) == expr
