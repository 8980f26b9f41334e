# ruff: noqa: E501  (the notebook text is kept as pykan writes it)
"""pykan 0.2.8's hellokan notebook, cell by cell, against kanrun (only the imports changed).

The script runs in a subprocess because it calls ``torch.set_default_dtype`` (global).
The default suite runs it with 20 steps per fit; the slow test with the notebook's 50.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest
import sympy
import torch

import kanrun
from kanrun import KAN, create_dataset

# pykan's hellokan.ipynb, its cells in order; `from kan import *` -> `from kanrun import *`
# (plus torch, which pykan's star import brings), `kan.utils` -> `kanrun.utils`.
HELLOKAN = '''
import torch
from kanrun import *
torch.set_default_dtype(torch.float64)

device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
print(device)

# create a KAN: 2D inputs, 1D output, and 5 hidden neurons. cubic spline (k=3), 5 grid intervals (grid=5).
model = KAN(width=[2,5,1], grid=3, k=3, seed=42, device=device)

from kanrun.utils import create_dataset
# create dataset f(x,y) = exp(sin(pi*x)+y^2)
f = lambda x: torch.exp(torch.sin(torch.pi*x[:,[0]]) + x[:,[1]]**2)
dataset = create_dataset(f, n_var=2, device=device)
dataset['train_input'].shape, dataset['train_label'].shape

# plot KAN at initialization
model(dataset['train_input']);
model.plot()

# train the model
model.fit(dataset, opt="LBFGS", steps=50, lamb=0.001);

model.plot()

model = model.prune()
model.plot()

model.fit(dataset, opt="LBFGS", steps=50);

model = model.refine(10)

model.fit(dataset, opt="LBFGS", steps=50);

mode = "auto" # "manual"

if mode == "manual":
    # manual mode
    model.fix_symbolic(0,0,0,'sin');
    model.fix_symbolic(0,1,0,'x^2');
    model.fix_symbolic(1,0,0,'exp');
elif mode == "auto":
    # automatic mode
    lib = ['x','x^2','x^3','x^4','exp','log','sqrt','tanh','sin','abs']
    model.auto_symbolic(lib=lib)

model.fit(dataset, opt="LBFGS", steps=50);

from kanrun.utils import ex_round

ex_round(model.symbolic_formula()[0][0],4)
'''

# not pykan's: report what the notebook produced
EPILOGUE = '''
import json, sympy
formula = ex_round(model.symbolic_formula()[0][0], 4)
x1, x2 = sympy.symbols("x_1 x_2")
fn = sympy.lambdify((x1, x2), formula, "math")
xt, yt = dataset["test_input"], dataset["test_label"]
pred = torch.tensor([fn(float(a), float(b)) for a, b in xt.tolist()])
print(json.dumps({
    "formula": str(formula),
    "formula_rmse": float(torch.sqrt(torch.mean((pred - yt[:, 0]) ** 2))),
    "model_rmse": float(torch.sqrt(torch.mean((model(xt) - yt) ** 2))),
    "width": model.width, "dtype": str(model.dtype), "data_dtype": str(xt.dtype),
}))
'''


def run_notebook(steps: int) -> dict:
    script = HELLOKAN.replace("steps=50", f"steps={steps}") + EPILOGUE
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=600, env={"OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
                                            "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0] == "cpu"  # the notebook's only print
    return json.loads(proc.stdout.splitlines()[-1])


def check(out: dict, max_rmse: float) -> None:
    assert out["dtype"] == out["data_dtype"] == "torch.float64"  # follows set_default_dtype
    assert out["width"] == [[2, 0], [1, 0], [1, 0]]  # prune found the [2,1,1] structure
    expr = sympy.sympify(out["formula"])
    assert {str(s) for s in expr.free_symbols} == {"x_1", "x_2"}
    assert {type(f).__name__ for f in expr.atoms(sympy.Function)} == {"exp", "sin"}
    assert out["formula_rmse"] < max_rmse and out["model_rmse"] < max_rmse


def test_hellokan_notebook_short():
    out = run_notebook(steps=20)
    check(out, max_rmse=1e-3)


@pytest.mark.slow
def test_hellokan_notebook_as_written():
    out = run_notebook(steps=50)
    check(out, max_rmse=1e-3)
    assert out["model_rmse"] < 1e-8  # measured 1.5e-14: the formula is exact in float64


# ---------------------------------------------------------------- the names pykan users type
@pytest.fixture(scope="module")
def trained():
    data = create_dataset(lambda x: torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2,
                          n_var=2, train_num=300, test_num=300, dtype=torch.float64, seed=1)
    model = KAN(width=[2, 3, 1], grid=5, seed=0, dtype=torch.float64)
    model.fit(data, steps=8)
    return model, data


def test_remembered_inputs_after_fit_and_forward(trained):
    model, data = trained
    explicit = model.attribute(data["train_input"]).node_scores[0]
    model.fit(data, steps=0)  # fit leaves its training inputs as the reference
    assert torch.allclose(model.attribute().node_scores[0], explicit)
    assert torch.allclose(model.node_scores[0], explicit)
    m2 = model.copy()
    m2(data["test_input"][:50])  # a forward call replaces the reference
    assert not torch.allclose(m2.node_scores[0], explicit)
    acts = m2.get_act()
    assert acts[0]["input"].shape == (50, 2) and acts[0]["edges"].shape == (50, 2, 3)
    assert len(model.edge_scores) == 2 and model.edge_scores[0].shape == (2, 3)


def test_suggest_symbolic_prints_only_when_asked(trained, capsys):
    model, data = trained
    quiet = model.suggest_symbolic(0, 0, 0, topk=3)
    assert capsys.readouterr().out == ""
    loud = model.suggest_symbolic(0, 0, 0, topk=3, verbose=True)
    table = capsys.readouterr().out.splitlines()
    assert "function" in table[0] and "fitting r2" in table[0] and len(table) == 4
    assert [c["function"] for c in quiet] == [c["function"] for c in loud]
    assert table[1].split()[1] == quiet[0]["function"]


def test_copy_speed_checkpoint(trained, tmp_path):
    model, data = trained
    assert model.speed() is model
    twin = model.copy()
    with torch.no_grad():
        twin.layers[0].coef.add_(1.0)
    assert not torch.equal(twin.layers[0].coef, model.layers[0].coef)
    path = model.saveckpt(str(tmp_path / "ckpt" / "0.1"))
    assert path.name == "0.1.pt" and path.exists()
    back = KAN.loadckpt(str(tmp_path / "ckpt" / "0.1"))
    x = data["test_input"]
    assert torch.equal(back(x), model(x))
    assert model.evaluate(data)["n_edge"] == 9


def test_update_grid_from_samples_and_plot_folder(trained, tmp_path):
    model, data = trained
    m = model.copy()
    wide = 3 * data["train_input"]
    m.update_grid_from_samples(wide)
    assert float(m.layers[0].grid.max()) > 2.5  # knots follow the wider samples
    fig = model.plot(folder=tmp_path / "figs", beta=10)
    assert (tmp_path / "figs" / "network.png").stat().st_size > 1000
    assert (tmp_path / "figs" / "activations.png").exists()
    assert fig.get_size_inches()[0] > 0


def test_symbolic_formula_pair():
    model = KAN(width=[2, 1], grid=3, seed=0, dtype=torch.float64)
    model.fix_symbolic(0, 0, 0, "sin", fit_params=False)
    model.fix_symbolic(0, 1, 0, "x^2", fit_params=False)
    formulas, variables = model.symbolic_formula()
    assert [str(v) for v in variables] == ["x_1", "x_2"]
    x1, x2 = variables
    assert sympy.simplify(formulas[0] - (sympy.sin(x1) + x2 ** 2)) == 0
    (named,), names = model.symbolic_formula(var=["a", "b"])
    assert [str(v) for v in names] == ["a", "b"] and "a" in str(named)


def test_default_dtype_followed_and_restored():
    old = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        data = create_dataset(lambda x: x[:, [0]], n_var=1, train_num=10, test_num=10)
        model = KAN(width=[1, 1], grid=3)
        assert data["train_input"].dtype == model.dtype == torch.float64
        assert model(data["train_input"]).dtype == torch.float64
    finally:
        torch.set_default_dtype(old)


def test_fit_signature_visible_and_threads_restored(trained):
    model, data = trained
    params = inspect.signature(model.fit).parameters
    assert {"opt", "steps", "lamb", "lamb_entropy", "batch", "threads"} <= set(params)
    assert params["steps"].default == 100
    before = torch.get_num_threads()
    seen = []
    try:
        torch.set_num_threads(2)
        model.copy().fit(data, steps=2, callback=lambda r: seen.append(torch.get_num_threads()))
        assert seen == [1, 1] and torch.get_num_threads() == 2  # small model: one thread
        model.copy().fit(data, steps=1, threads=2,
                         callback=lambda r: seen.append(torch.get_num_threads()))
        assert seen[-1] == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads"):
        model.fit(data, steps=1, threads=0)


def test_dir_shows_the_public_api():
    names = dir(kanrun)
    for name in ("KAN", "create_dataset", "fit", "ex_round", "load_model", "FitError"):
        assert name in names
        assert getattr(kanrun, name) is not None
