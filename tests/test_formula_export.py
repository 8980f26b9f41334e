"""Formula export: the expression equals the model for every library function."""

import json

import pytest
import sympy
import torch

from kanrun import KAN
from kanrun.kan.symbolic.export import (
    FormulaError,
    evaluate_formula,
    formula_from_json,
    formula_json,
    formula_latex,
    formula_rmse,
    formula_text,
    symbolic_formula,
    tidy,
)
from kanrun.kan.symbolic.library import function_names

# argument intervals inside each function's domain (inputs are in [-1, 1])
DOMAIN = {"sqrt": (0.1, 3), "x^0.5": (0.1, 3), "x^1.5": (0.1, 3), "1/sqrt(x)": (0.1, 3),
          "1/x^0.5": (0.1, 3), "log": (0.1, 3), "arcsin": (-0.9, 0.9), "arccos": (-0.9, 0.9),
          "arctanh": (-0.9, 0.9), "tan": (-1.3, 1.3), "1/x": (0.3, 2), "1/x^2": (0.3, 2),
          "1/x^3": (0.3, 2), "1/x^4": (0.5, 2), "1/x^5": (0.5, 2), "exp": (-2, 2)}
# functions safe on any real argument, for deeper layers
ANYWHERE = ["x", "x^2", "x^3", "sin", "cos", "tanh", "arctan", "gaussian", "abs", "0"]


def _params_for(name, g):
    lo, hi = DOMAIN.get(name, (-2, 2))
    sign = 1.0 if torch.rand((), generator=g) < 0.5 else -1.0
    a = sign * (hi - lo) / 2 * (0.5 + 0.4 * float(torch.rand((), generator=g)))
    b = (hi + lo) / 2
    c = (0.5 + float(torch.rand((), generator=g))) * (1 if torch.rand((), generator=g) < 0.5
                                                      else -1)
    d = float(torch.rand((), generator=g)) - 0.5
    return a, b, c, d


def random_symbolic_model(first_layer_names, seed):
    width = [3, [3, 2], [2, 1], 1]
    m = KAN(width, mult_arity=[[], [2, 3], [2], []], grid=3, seed=seed, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in [*m.subnode_scale, *m.node_scale]:
            p.copy_(1 + 0.3 * torch.randn(p.shape, generator=g, dtype=torch.float64))
        for p in [*m.subnode_bias, *m.node_bias]:
            p.copy_(0.2 * torch.randn(p.shape, generator=g, dtype=torch.float64))
    k = 0
    for li, layer in enumerate(m.layers):
        for i in range(layer.in_dim):
            for j in range(layer.out_dim):
                if li == 0:
                    name = first_layer_names[k % len(first_layer_names)]
                    params = _params_for(name, g)
                else:
                    name = ANYWHERE[k % len(ANYWHERE)]
                    params = [0.3 + 0.5 * float(torch.rand((), generator=g)),
                              float(torch.rand((), generator=g)) - 0.5,
                              0.5 + float(torch.rand((), generator=g)),
                              float(torch.rand((), generator=g)) - 0.5]
                layer.symbolic.set_edge(i, j, name, params)
                layer.mask[i, j] = 0
                k += 1
    return m


def _x(n, d=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g, dtype=torch.float64) * 2 - 1


NAMES = function_names()  # the whole library, aliases included (29 names)


@pytest.mark.parametrize("offset", [0, 15])
def test_formula_equals_model_for_every_library_function(offset):
    names = NAMES[offset:] + NAMES[:offset]
    m = random_symbolic_model(names, seed=offset)
    used = {m.layers[0].symbolic.names[i][j] for i in range(3) for j in range(7)}
    assert len(used) == 21
    x = _x(500)
    with torch.no_grad():
        y = m(x)
    assert torch.isfinite(y).all()
    exprs = symbolic_formula(m, digits=None, simplify_seconds=0)
    assert len(exprs) == 1
    pred = evaluate_formula(exprs, x)
    rel = (pred - y).abs() / (1 + y.abs())
    assert rel.max() < 1e-9
    assert formula_rmse(exprs, x, y)[0] < 1e-9 * (1 + float(y.abs().max()))


def test_all_library_functions_are_covered_by_the_two_models():
    covered = set(NAMES[0:21]) | set((NAMES[15:] + NAMES[:15])[:21])
    assert covered == set(NAMES)


def hellokan_like():
    """exp(sin(pi x1) + x2^2) written with redundant parameters, as training leaves it."""
    m = KAN([2, 1, 1], grid=3, seed=0, dtype=torch.float64)
    s0 = m.layers[0].symbolic
    s0.set_edge(0, 0, "sin", (3.141592653589793, 1e-9, 2.0, 0.25))
    s0.set_edge(1, 0, "x^2", (1.7, 3e-10, 0.6920415224913495, -0.25))  # 2 * x^2 overall
    m.layers[1].symbolic.set_edge(0, 0, "exp", (0.5, 0.3, 0.7408182206817179, 2e-9))
    with torch.no_grad():
        for layer in m.layers:
            layer.mask.zero_()
    return m


def test_tidy_formula_reads_like_the_ground_truth():
    m = hellokan_like()
    (expr,), _ = m.symbolic_formula()
    assert str(expr) == "exp(x_2**2 + sin(3.1416*x_1))"
    (expr6,), _ = m.symbolic_formula(digits=6, var_names=["a", "b"])
    assert str(expr6) == "exp(b**2 + sin(3.141593*a))"
    x = _x(300, 2, seed=5)
    truth = torch.exp(torch.sin(torch.pi * x[:, :1]) + x[:, 1:] ** 2)
    pred = evaluate_formula([expr6], x, ["a", "b"])
    assert ((pred - truth).abs() / truth).max() < 1e-6
    raw = symbolic_formula(m, digits=None, simplify_seconds=0)[0]
    with torch.no_grad():
        assert (evaluate_formula([raw], x) - m(x)).abs().max() < 1e-12


def test_tidy_passes_keep_values():
    x1, x2 = sympy.symbols("x_1 x_2")
    e = sympy.Float(2.5) * sympy.exp(sympy.Float(0.7) + sympy.sin(x1) * sympy.Float(1.3)) + x2
    t = tidy(e, digits=None, simplify_seconds=1)
    assert not t.has(sympy.exp(sympy.Float(0.7)))
    vals = {x1: 0.3, x2: -0.8}
    assert abs(float(t.subs(vals)) - float(e.subs(vals))) < 1e-12
    assert str(tidy(sympy.Float(1.00004) * x1 + sympy.Float(3e-6), 4, 0)) == "x_1"


def test_numeric_edges_are_named_in_the_error():
    m = hellokan_like()
    with torch.no_grad():
        m.layers[0].mask[1, 0] = 1
    with pytest.raises(FormulaError, match=r"\(0,1,0\).*still numeric"):
        m.symbolic_formula()
    # an edge that cannot reach the output does not matter
    m2 = KAN([2, 2, 1], grid=3, seed=0, dtype=torch.float64)
    for i in range(2):
        m2.layers[0].symbolic.set_edge(i, 0, "x", (1, 0, 1, 0))
        m2.layers[0].mask[i, 0] = 0
    m2.layers[1].symbolic.set_edge(0, 0, "sin", (1, 0, 1, 0))
    with torch.no_grad():
        m2.layers[1].mask.zero_()  # node 1 has no live outgoing edge; its inputs are numeric
    (e,), _ = m2.symbolic_formula(simplify_seconds=0)
    assert str(e) == "sin(x_1 + x_2)"


def test_text_latex_json_round_trip():
    m = hellokan_like()
    exprs, _ = m.symbolic_formula(digits=6)
    assert formula_text(exprs) == "y_1 = exp(x_2**2 + sin(3.141593*x_1))"
    assert formula_latex(exprs, ["f"]).startswith("f = e^{x_{2}^{2} + \\sin{\\left(3.141593")
    blob = formula_json(exprs)
    data = json.loads(blob)
    assert data["variables"] == ["x_1", "x_2"] and data["outputs"][0]["name"] == "y_1"
    back, variables = formula_from_json(blob)
    assert [str(v) for v in variables] == ["x_1", "x_2"]
    assert sympy.simplify(back[0] - exprs[0]) == 0
    # the string also parses with plain sympy
    assert sympy.sympify(data["outputs"][0]["expr"]) == exprs[0]
    with pytest.raises(FormulaError, match="not a kanrun formula"):
        formula_from_json("{}")


def test_formula_rmse_matches_the_model():
    m = hellokan_like()
    x = _x(400, 2, seed=2)
    y = torch.exp(torch.sin(torch.pi * x[:, :1]) + x[:, 1:] ** 2) + 0.01
    exprs, _ = m.symbolic_formula(digits=None, simplify_seconds=0)
    with torch.no_grad():
        model_rmse = float((m(x) - y).pow(2).mean().sqrt())
    assert formula_rmse(exprs, x, y)[0] == pytest.approx(model_rmse, rel=1e-10)
    with pytest.raises(FormulaError, match="columns"):
        formula_rmse(exprs, x, torch.zeros(400, 2))


def test_tidy_cuts_off_a_stalling_simplify(monkeypatch):
    # sympy.simplify can factor for hours on some expressions (a smoke sweep's formula
    # did); tidy gives up after its simplify_seconds of CPU time and keeps the expression
    import sympy

    from kanrun.common import clock
    from kanrun.kan.symbolic.export import tidy

    def stall(expr):
        end = clock.now() + 30.0
        while clock.now() < end:
            pass
        return expr

    monkeypatch.setattr(sympy, "simplify", stall)
    x = sympy.Symbol("x")
    start = clock.now()
    out = tidy(sympy.sin(x) * 2.5 + 1, digits=4, simplify_seconds=0.3)
    assert clock.now() - start < 3.0
    assert sympy.simplify is stall and out == 2.5 * sympy.sin(x) + 1
