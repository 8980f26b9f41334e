"""Network diagram and activation plots: Figures, no files unless asked, visible content."""

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from kanrun import KAN
from kanrun.kan.plot import PlotError, figure_array, plot_activations, plot_network


def _x(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g, dtype=torch.float64) * 2 - 1


def _ink(fig):
    """Fraction of pixels that are not white."""
    rgba = figure_array(fig)
    return float((rgba[..., :3].astype(int).sum(-1) < 740).mean())


def test_plot_returns_a_figure_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    m = KAN([2, 5, 1], grid=3, seed=0, dtype=torch.float64, noise_scale=1.0)
    x = _x(200, 2)
    m.fix_symbolic(0, 0, 1, "sin", x=x)
    backend = matplotlib.get_backend()
    fig = m.plot(x=x, in_vars=["x", "y"], out_vars=["f"], title="test")
    assert isinstance(fig, Figure)
    assert list(tmp_path.iterdir()) == []
    assert matplotlib.get_backend() == backend
    # one main axes + one inset per live edge (2*5 + 5*1)
    assert len(fig.axes) == 1 + 15
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"sin", "$x$", "$y$", "$f$", "test"} <= texts
    assert 0.01 < _ink(fig) < 0.6


def test_plot_saves_only_to_the_given_path(tmp_path):
    m = KAN([5, 5, 5, 1], grid=3, seed=0, dtype=torch.float64)
    with torch.no_grad():
        m.layers[1].mask[2, :] = 0  # removed edges are not drawn
    path = tmp_path / "net.png"
    fig = plot_network(m, _x(150, 5), path=path)
    assert path.is_file() and path.stat().st_size > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.png"]
    assert len(fig.axes) == 1 + 25 + 20 + 5


def test_multiplication_nodes_are_marked():
    m = KAN([2, [1, 2], 1], mult_arity=[[], [2, 3], []], grid=3, seed=0, dtype=torch.float64)
    fig = plot_network(m, _x(100, 2))
    times = [t for t in fig.axes[0].texts if t.get_text() == "\u00d7"]
    assert len(times) == 2
    assert len(fig.axes) == 1 + 2 * 6 + 3


def test_plot_activations_panels_and_errors(tmp_path):
    m = KAN([2, 3, 1], grid=3, seed=0, dtype=torch.float64, noise_scale=1.0)
    x = _x(200, 2)
    m.fix_symbolic(1, 2, 0, "tanh", x=x)
    with torch.no_grad():
        m.layers[0].mask[1, 1] = 0
    fig = plot_activations(m, x)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(fig.axes) == 2 * 3 + 3 * 1
    assert any(t.startswith("(1,2,0) tanh r2=") for t in titles)
    removed = next(ax for ax in fig.axes if ax.get_title() == "(0,1,1)")
    assert removed.texts[0].get_text() == "removed"
    curve = next(ax for ax in fig.axes if ax.get_title() == "(0,0,0)")
    xs, ys = curve.lines[0].get_data()
    assert np.all(np.diff(xs) >= 0) and len(xs) == 200
    phi = m.layers[0].edge_values(x)[:, 0, 0].detach().numpy()
    np.testing.assert_allclose(np.sort(ys), np.sort(phi))
    assert m.plot_activations(path=tmp_path / "a.png") is not None  # cached x from fix
    assert (tmp_path / "a.png").is_file()
    with pytest.raises(PlotError, match="in_vars needs 2 names"):
        m.plot(x=x, in_vars=["a"])


def test_input_names_mathtext_cannot_parse_are_drawn_as_plain_text():
    m = KAN([4, 1], grid=3, seed=0, dtype=torch.float64)
    names = ["E_", "x_12", "p_F", "lambda_"]
    fig = m.plot(x=_x(50, 4), in_vars=names)
    figure_array(fig)  # draws: "$E_$" would raise a mathtext ParseSyntaxException here
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"E_", "$x_{12}$", "$p_{F}$", "lambda_"} <= texts
