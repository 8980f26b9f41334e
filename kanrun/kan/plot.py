"""Network diagram and activation plots; each returns a ``matplotlib.figure.Figure``.

Built on the object API with an Agg canvas (no pyplot, no global state, headless); a file
is written only when ``path`` is given. The diagram follows pykan's: node layers from
bottom (inputs) to top (outputs); each edge passes through a small inset of its activation
phi_ij(x_i); edge opacity is tanh(beta * attribution score); numeric edges are black,
symbolic ones red with the function's name (purple when both parts are live); edges into a
multiplication node meet at a square marked with a times sign.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from .attribution import attribute, edge_records, resolve_inputs

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLORS = {"numeric": "black", "symbolic": "tab:red", "both": "tab:purple"}


class PlotError(ValueError):
    """Bad plotting arguments (names, sizes)."""


def _figure(size) -> Figure:
    """A Figure on its own Agg canvas. matplotlib is imported here, on the first plot, so that
    ``import kanrun.kan`` does not load it (the one lazy import of the library)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def _edge_kind(layer, i, j):
    numeric = bool(layer.mask[i, j] != 0)
    symbolic = layer.symbolic.is_symbolic(i, j)
    if numeric and symbolic:
        return "both"
    return "numeric" if numeric else ("symbolic" if symbolic else None)


def _names(given, n, default, what):
    if given is None:
        return [default.format(k + 1) for k in range(n)]
    names = [str(v) for v in given]
    if len(names) != n:
        raise PlotError(f"{what} needs {n} names, got {len(names)}")
    return names


def _label(name):
    """Names like x, theta, x_1, p_F, x_12 in math mode (the whole subscript braced);
    anything else (E_, lambda_, a_b_c, 1/x) as plain text, which mathtext could not parse."""
    if name.startswith("$"):
        return name
    head, sep, sub = name.partition("_")
    if not head.isalpha() or (sep and not sub.isalnum()):
        return name
    return f"${head}_{{{sub}}}$" if sep else f"${head}$"


def _curve(x_in, phi):
    order = torch.argsort(x_in)
    return x_in[order].cpu().numpy(), phi[order].cpu().numpy()


def _owners(model, li):
    """For node layer l (>= 1): the node each subnode feeds."""
    n_sum, arity = model.width[li][0], model.mult_arity[li]
    return list(range(n_sum)) + [n_sum + k for k, a in enumerate(arity) for _ in range(a)]


def _finish(fig, path, dpi):
    if path is not None:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return fig


def plot_network(model, x=None, in_vars=None, out_vars=None, title=None, path=None,
                 beta: float = 3.0, dpi: int = 150) -> Figure:
    """Draw the network on sample inputs ``x`` (see the module docstring)."""
    x = resolve_inputs(model, x)
    records = edge_records(model, x)
    scores = attribute(model, records=records).edge_scores
    in_names = _names(in_vars, model.width_in[0], "x_{}", "in_vars")
    out_names = _names(out_vars, model.width_in[-1], "y_{}", "out_vars")
    depth = model.depth
    n_slots = [model.width_in[li] * model.width_subnodes[li + 1] for li in range(depth)]
    fig_w = float(min(40.0, max(6.0, 0.62 * max(n_slots), 1.2 * max(model.width_in))))
    layer_h = 2.6
    fig_h = depth * layer_h + 1.3 + (0.4 if title else 0.0)
    fig = _figure((fig_w, fig_h))
    # data coordinates: x in [0, 1], node layer l at height l; full-figure main axes
    y_lo, y_hi = -0.28, depth + 0.22 + (0.15 if title else 0.0)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 1)
    ax.set_ylim(y_lo, y_hi)
    ax.axis("off")

    def to_fig(px, py):
        return px, (py - y_lo) / (y_hi - y_lo)

    inch_per_y = fig_h / (y_hi - y_lo)
    mid, sub_y = 0.45, 0.84  # inset centre and subnode height within a layer
    node_size = min(120.0, 2400.0 / max(model.width_in))
    for li in range(depth + 1):
        n = model.width_in[li]
        n_sum = model.width[li][0]
        for i in range(n):
            px = (i + 0.5) / n
            if i < n_sum:
                ax.scatter([px], [li], s=node_size, color="black", zorder=3)
            else:
                ax.scatter([px], [li], s=node_size * 1.8, marker="s", facecolor="white",
                           edgecolor="black", linewidths=1.5, zorder=3)
                ax.text(px, li, "\u00d7", ha="center", va="center", fontsize=11, zorder=4)
    for li in range(depth):
        layer = model.layers[li]
        n_in, n_out = layer.in_dim, layer.out_dim
        slots = n_in * n_out
        size_in = min(0.85, 0.78 * fig_w / slots, 0.3 * layer_h)  # inset side (inches)
        half_w = size_in / fig_w / 2
        half_h = size_in / inch_per_y / 2
        rec = records[li]
        alpha = torch.tanh(beta * scores[li]).clamp(0, 1).cpu()
        for i in range(n_in):
            for j in range(n_out):
                kind = _edge_kind(layer, i, j)
                if kind is None:
                    continue
                a = float(alpha[i, j])
                color = COLORS[kind]
                sx = (i * n_out + j + 0.5) / slots
                ax.plot([(i + 0.5) / n_in, sx], [li, li + mid - half_h], color=color, alpha=a,
                        lw=1.0)
                ax.plot([sx, (j + 0.5) / n_out], [li + mid + half_h, li + sub_y], color=color,
                        alpha=a, lw=1.0)
                fx, fy = to_fig(sx - half_w, li + mid - half_h)
                inset = fig.add_axes((fx, fy, 2 * half_w, 2 * half_h / (y_hi - y_lo)))
                cx, cy = _curve(rec["input"][:, i], rec["edges"][:, i, j])
                inset.plot(cx, cy, color=color, lw=1.4, alpha=max(a, 0.05))
                inset.set_xticks([])
                inset.set_yticks([])
                inset.patch.set_alpha(0.0)
                for spine in inset.spines.values():
                    spine.set_color(color)
                    spine.set_alpha(max(a, 0.05))
                if kind != "numeric":
                    ax.text(sx, li + mid - half_h - 0.03, layer.symbolic.names[i][j],
                            ha="center", va="top", fontsize=7, color=color, alpha=max(a, 0.3))
        # subnodes -> nodes of the next layer
        owners = _owners(model, li + 1)
        n_next = model.width_in[li + 1]
        for j in range(n_out):
            sx = (j + 0.5) / n_out
            ax.plot([sx, (owners[j] + 0.5) / n_next], [li + sub_y, li + 1], color="black", lw=0.8)
            ax.scatter([sx], [li + sub_y], s=18, marker="+", color="black", zorder=3)
    for i, name in enumerate(in_names):
        ax.text((i + 0.5) / model.width_in[0], -0.13, _label(name), ha="center", va="top",
                fontsize=12)
    for i, name in enumerate(out_names):
        ax.text((i + 0.5) / model.width_in[-1], depth + 0.09, _label(name), ha="center",
                va="bottom", fontsize=12)
    if title:
        ax.text(0.5, y_hi - 0.04, str(title), ha="center", va="top", fontsize=14)
    return _finish(fig, path, dpi)


def plot_activations(model, x=None, path=None, dpi: int = 120) -> Figure:
    """One panel per edge (rows: layer inputs, columns: layer outputs), layers stacked.

    Each panel shows phi_ij against x_i on the samples, with the edge's function name and
    r2 when it is symbolic.
    """
    from matplotlib.ticker import MaxNLocator  # lazy, as in _figure

    x = resolve_inputs(model, x)
    records = edge_records(model, x)
    rows = sum(layer.in_dim for layer in model.layers)
    cols = max(layer.out_dim for layer in model.layers)
    height = 1.55 * rows + 0.5 * model.depth
    fig = _figure((1.9 * cols + 0.6, height))
    grid = fig.add_gridspec(model.depth, 1, hspace=0.9 / max(rows, 1) * model.depth,
                            height_ratios=[layer.in_dim for layer in model.layers][::-1],
                            left=0.6 / (1.9 * cols + 0.6), right=0.98, bottom=0.3 / height,
                            top=1 - 0.3 / height)
    for li, layer in enumerate(model.layers):
        sub = grid[model.depth - 1 - li].subgridspec(layer.in_dim, cols, hspace=0.55,
                                                    wspace=0.45)
        rec = records[li]
        for i in range(layer.in_dim):
            for j in range(layer.out_dim):
                ax = fig.add_subplot(sub[i, j])
                kind = _edge_kind(layer, i, j)
                ax.tick_params(labelsize=6, length=2)
                ax.xaxis.set_major_locator(MaxNLocator(3))
                ax.yaxis.set_major_locator(MaxNLocator(4))
                if kind is None:
                    ax.text(0.5, 0.5, "removed", ha="center", va="center", fontsize=8,
                            color="0.6", transform=ax.transAxes)
                    ax.set_xticks([])
                    ax.set_yticks([])
                else:
                    cx, cy = _curve(rec["input"][:, i], rec["edges"][:, i, j])
                    ax.plot(cx, cy, color=COLORS[kind], lw=1.2)
                label = f"({li},{i},{j})"
                if kind in ("symbolic", "both"):
                    entry = layer.symbolic.records.get((i, j), {})
                    r2 = entry.get("r2")
                    label += f" {layer.symbolic.names[i][j]}"
                    if isinstance(r2, float) and math.isfinite(r2):
                        label += f" r2={r2:.4f}"
                ax.set_title(label, fontsize=7, pad=2)
    return _finish(fig, path, dpi)


def figure_array(fig: Figure) -> np.ndarray:
    """Render a figure to an RGBA array (for tests and notebooks)."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())


__all__ = ["plot_network", "plot_activations", "figure_array", "PlotError"]
