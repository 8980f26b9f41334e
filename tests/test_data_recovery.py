"""The SRBench recovery criterion."""

import pytest
import sympy

from kanrun.data import get_feynman, parse_formula, recovered, round_constants
from kanrun.data.recovery import round_floats


@pytest.mark.parametrize(
    "formula, truth",
    [
        ("2*sin(x)*cos(x)", "sin(2*x)"),
        ("exp(sin(3.14159*x) + y**2)", "exp(sin(pi*x) + y**2)"),
        ("1.0*exp(1.0*y**2 + 1.0*sin(3.1416*x))", "exp(sin(pi*x) + y**2)"),
        ("x**2 + 3", "x**2"),  # additive constant
        ("5*x**2", "x**2"),  # multiplicative constant
        ("0.3989*exp(-0.5*theta**2)", "sqrt(2)*exp(-theta**2/2)/(2*sqrt(pi))"),
        ("(x + y)**2 - x**2 - y**2", "x*y"),
        ("tanh(atanh(u) + atanh(v))", "(u + v)/(1 + u*v)"),
        ("exp(log(x) - log(y))", "x/y"),
        ("x**0.3333", "x**(1/3)"),
        ("x", "x + 1e-5*x**2"),  # the small term rounds away (SRBench)
        ("besselj(0, 20*x)", "besselj(0, 20*x)"),
    ],
)
def test_equivalent_forms_are_recovered(formula, truth):
    assert recovered(formula, truth) is True


@pytest.mark.parametrize(
    "formula, truth",
    [
        ("sin(2.1*x)", "sin(2*x)"),
        ("x**2 + x", "x**2"),
        ("exp(sin(3.15*x) + y**2)", "exp(sin(pi*x) + y**2)"),
        ("exp(-0.51*theta**2)", "exp(-theta**2/2)"),
        ("x**0.33", "x**(1/3)"),
        ("(x + 1)**20", "(x + 1)**20 + x"),
        ("x*y", "x*y + y"),
        ("0", "x"),
    ],
)
def test_near_misses_are_not_recovered(formula, truth):
    assert recovered(formula, truth) is False


def test_sympy_inputs_with_other_assumptions_and_ranges():
    x = sympy.Symbol("x")  # not real: matched by name
    truth = parse_formula("asin(n*sin(x))", ["n", "x"])
    formula = sympy.asin(sympy.Symbol("n", positive=True) * sympy.sin(x))
    assert recovered(formula, truth, {"n": [0.0, 0.99], "x": [0.0, 6.28]}) is True
    assert recovered(formula + 0.01 * x, truth, {"n": [0.0, 0.99], "x": [0.0, 6.28]}) is False


def test_feynman_truths_against_rewritten_forms():
    for name in ("Jackson 2.11", "I.16.6", "Weinberg 15.2.2", "II.35.18"):
        equation = get_feynman(name)
        ranges = dict(zip(equation.variables, equation.ranges, strict=True))
        expr = parse_formula(equation.expr, equation.variables)
        first = sorted(expr.free_symbols, key=lambda s: s.name)[0]
        assert recovered(sympy.expand(expr), equation.expr, ranges), name
        assert recovered(2.5 * expr, equation.expr, ranges), name
        assert not recovered(expr + first, equation.expr, ranges), name


def test_exact_rationals_grouped_differently_are_recovered():
    # SRBench rounds only float literals: an exact 1/3 matches however it is grouped,
    # while rounding the whole subexpression turns 1/3 into 0.333 on one side only.
    ranges = {"n": [0.0, 1.0], "a": [0.0, 2.0], "e": [0.0, 1.0], "F": [0.0, 1.0]}
    truth = "F*a*e*n/(-a*n/3 + 1)"
    assert recovered("3*F*a*e*n/(3 - a*n)", truth, ranges) is True
    assert recovered("F*a*e*n/(1 - 0.3333*a*n)", truth, ranges) is True
    assert recovered("F*a*e*n/(1 - 0.34*a*n)", truth, ranges) is False
    assert recovered("3*F*a*e*n/(3.1 - a*n)", truth, ranges) is False


def test_round_floats_keeps_exact_numbers():
    x = sympy.Symbol("x", real=True)
    assert round_floats(sympy.pi * x + sympy.Rational(1, 3)) == sympy.pi * x + sympy.Rational(1, 3)
    assert round_floats(3.14159 * x + 0.00005) == sympy.Rational(3142, 1000) * x


def test_round_constants():
    x = sympy.Symbol("x", real=True)
    assert round_constants(sympy.pi * x) == sympy.Rational(3142, 1000) * x
    assert round_constants(x**0.5) == sympy.sqrt(x)
    assert round_constants(0.0004 * x + x**2) == x**2
    assert (
        round_constants(sympy.sqrt(2) * x / (2 * sympy.sqrt(sympy.pi)))
        == sympy.Rational(399, 1000) * x
    )
