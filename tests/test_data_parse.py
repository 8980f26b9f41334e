"""The safe formula parser and the sympy -> torch evaluator."""

import math

import pytest
import sympy
import torch

from kanrun.data import DatasetError, parse_formula, torch_function

VARIABLES = ["x1", "x2"]

# (text, a word the message must contain)
REJECTED = [
    ("__import__('os').system('x')", "attribute access"),
    ("__import__('os')", "unknown function '__import__'"),
    ("().__class__", "attribute access"),
    ("x1.real", "attribute access"),
    ("lambda: 1", "lambda"),
    ("[x for x in y]", "comprehensions"),
    ("'abc'", "strings"),
    ("x1[0]", "subscripts"),
    ("open('f')", "unknown function 'open'"),
    ("eval('1')", "unknown function 'eval'"),
    ("x1 if x1 else x2", "conditional"),
    ("x1; x2", "invalid syntax"),
    ("", "empty"),
    ("   ", "empty"),
    ("x1 +", "invalid syntax"),
    ("x9", "unknown name 'x9'"),
    ("sin(x=1)", "keyword arguments"),
    ("sin(x1, x2)", "takes 1 argument"),
    ("x1 ^ 2", "use **"),
    ("x1 < x2", "comparisons"),
    ("x1 and x2", "'and' / 'or'"),
    ("True", "not a number"),
    ("3j", "complex"),
    ("1e999", "not finite"),
    ("1/0", "non-finite"),
    ("sqrt(-1)*x1", "complex"),
    ("9**9**9**9", "digits"),
    ("(x1, x2)", "tuples"),
    ("{x1}", "sets"),
    ("f'{x1}'", "strings"),
    ("(x1 := 2)", "assignments"),
    ("x1 // 2", "'//'"),
    ("sin", "is a function"),
    ("(" * 300 + "x1" + ")" * 300, "formula"),
    ("besselj(0, x1)", "unknown function 'besselj'"),
]


@pytest.mark.parametrize("text, word", REJECTED)
def test_rejects_code_and_malformed_formulas(text, word):
    with pytest.raises(DatasetError) as info:
        parse_formula(text, VARIABLES)
    assert word in str(info.value)


def test_rejection_names_the_formula_and_the_allowed_names():
    with pytest.raises(DatasetError) as info:
        parse_formula("x9 + x1", VARIABLES)
    message = str(info.value)
    assert "'x9 + x1'" in message and "x1, x2" in message and "dataset.ranges" in message


@pytest.mark.parametrize(
    "text, point, value",
    [
        ("x1*sin(x2)", (2.0, 0.5), 2.0 * math.sin(0.5)),
        ("-x1**2 + 3.5e-1*exp(-x2)", (1.5, 2.0), -2.25 + 0.35 * math.exp(-2.0)),
        ("(x1 + x2)/(x1 - x2)", (3.0, 1.0), 2.0),
        ("+x1 - -x2", (1.0, 2.0), 3.0),
        ("2**-1 * x1", (4.0, 0.0), 2.0),
        ("sqrt(abs(x1)) + Abs(x2)", (-4.0, -1.5), 3.5),
        ("arcsin(x1) + asin(x2)", (0.5, 0.5), 2 * math.asin(0.5)),
        (
            "arccos(x1) + acos(x2) + arctan(x1) + atan(x2)",
            (0.3, 0.4),
            math.acos(0.3) + math.acos(0.4) + math.atan(0.3) + math.atan(0.4),
        ),
        ("arctanh(x1) + atanh(x2)", (0.3, -0.2), math.atanh(0.3) + math.atanh(-0.2)),
        ("sign(x1) + sgn(x2)", (-3.0, 2.0), 0.0),
        (
            "tan(x1) + tanh(x2) + sinh(x1) + cosh(x2) + log(x2)",
            (0.4, 1.7),
            math.tan(0.4) + math.tanh(1.7) + math.sinh(0.4) + math.cosh(1.7) + math.log(1.7),
        ),
        ("pi*x1 + E*x2", (1.0, 1.0), math.pi + math.e),
        ("x1 + 1", (0.0, 0.0), 1.0),
    ],
)
def test_accepts_valid_formulas_with_correct_values(text, point, value):
    expr = parse_formula(text, VARIABLES)
    x1, x2 = sympy.symbols("x1 x2", real=True)
    assert float(expr.subs({x1: point[0], x2: point[1]})) == pytest.approx(value, rel=1e-12)
    evaluate = torch_function(expr, VARIABLES)
    got = evaluate(torch.tensor([point], dtype=torch.float64))
    assert got.shape == (1,)
    assert float(got[0]) == pytest.approx(value, rel=1e-12, abs=1e-15)


def test_symbols_are_real_and_named_by_the_variables():
    expr = parse_formula("theta*sigma", ["theta", "sigma"])
    assert sorted(s.name for s in expr.free_symbols) == ["sigma", "theta"]
    assert all(s.is_real for s in expr.free_symbols)
    assert parse_formula("sqrt(x1**2)", VARIABLES) == sympy.Abs(sympy.Symbol("x1", real=True))


def test_long_sums_are_not_too_deep():
    text = " + ".join(f"x{i}**2" for i in range(1, 301))
    names = [f"x{i}" for i in range(1, 301)]
    evaluate = torch_function(parse_formula(text, names), names)
    assert float(evaluate(torch.full((1, 300), 2.0, dtype=torch.float64))[0]) == 1200.0


def test_without_variables_any_plain_name_is_a_symbol():
    expr = parse_formula("a*exp(b)")
    assert sorted(s.name for s in expr.free_symbols) == ["a", "b"]
    with pytest.raises(DatasetError, match="not allowed"):
        parse_formula("__class__ + 1")


@pytest.mark.parametrize("name", ["sin", "pi", "E", "lambda", "1x", "_x", "a b"])
def test_bad_variable_names_are_rejected(name):
    with pytest.raises(DatasetError, match="variable name"):
        parse_formula("1", [name])


def test_special_functions_only_when_allowed():
    expr = parse_formula("besselj(0, 20*x1) + elliptic_f(x1, x2)", VARIABLES, allow_special=True)
    value = torch_function(expr, VARIABLES)(torch.tensor([[0.1, 0.3]], dtype=torch.float64))
    # reference values from mpmath (through sympy), independent of scipy
    reference = float((sympy.besselj(0, 2) + sympy.elliptic_f(0.1, 0.3)).evalf(30))
    assert reference == pytest.approx(0.22389077914123567 + 0.10004996739435126, rel=1e-14)
    assert float(value[0]) == pytest.approx(reference, rel=1e-12)


def test_torch_function_keeps_dtype_gradients_and_constant_shape():
    expr = parse_formula("x1**2 + 3", VARIABLES)
    x = torch.tensor([[1.0, 0.0], [2.0, 0.0]], requires_grad=True)
    y = torch_function(expr, VARIABLES)(x)
    assert y.dtype == torch.float32 and y.tolist() == [4.0, 7.0]
    y.sum().backward()
    assert x.grad[:, 0].tolist() == [2.0, 4.0]
    constant = torch_function(parse_formula("2*pi", VARIABLES), VARIABLES)(torch.zeros(3, 2))
    assert constant.shape == (3,) and float(constant[0]) == pytest.approx(2 * math.pi)


def test_torch_function_rejects_unknown_symbols_and_wrong_shapes():
    expr = parse_formula("x1*x2", VARIABLES)
    with pytest.raises(DatasetError, match="x2"):
        torch_function(expr, ["x1"])
    with pytest.raises(DatasetError, match="shape"):
        torch_function(expr, VARIABLES)(torch.zeros(4, 3))


def test_the_common_parser_is_the_datasets_parser_with_its_own_error():
    from kanrun.common.parse import FormulaSyntaxError
    from kanrun.common.parse import parse_formula as common_parse

    x1 = sympy.Symbol("x1", real=True)
    assert common_parse("2*x1**2", ["x1"]) == parse_formula("2*x1**2", ["x1"]) == 2 * x1**2
    with pytest.raises(FormulaSyntaxError, match="'__import__'"):
        common_parse("__import__('os')", ["x1"])
    with pytest.raises(DatasetError, match="'__import__'"):
        parse_formula("__import__('os')", ["x1"])


def test_the_library_imports_neither_the_datasets_nor_the_runner():
    import subprocess
    import sys

    code = ("import sys, kanrun.kan, kanrun.kan.symbolic.export; "
            "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('kanrun.')}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['common', 'kan']"
