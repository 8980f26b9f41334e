"""Separability and symmetry tests on a fitted smooth surrogate.

Additive separability of g between groups A and B means d2g/dx_a dx_b = 0 for every a in
A, b in B; applied to g = log|f| it is multiplicative separability of f. The test
measures each mixed second derivative (scaled to the inputs' spans and to the spread of
g) at interior points; the variables then fall into the connected components of the
graph whose edges are the pairs that interact.

Symmetries: f depends on x_i and x_j only through x_i - x_j when df/dx_i + df/dx_j = 0,
through x_i + x_j when df/dx_i = df/dx_j, through x_i / x_j when x_i df/dx_i + x_j df/dx_j
= 0, and through x_i * x_j when x_i df/dx_i = x_j df/dx_j.
"""

from __future__ import annotations

import numpy as np

from .surrogate import Surrogate

INTERACTION_TOL = 0.05  # additive test: separable pairs measure ~1e-2, interacting ones ~1
PRODUCT_TOL = 0.2  # product test (a ratio in [0, 1]): separable ~0.01-0.07, interacting ~1
SYMMETRY_TOL = 0.01
UNUSED_TOL = 2e-3


def interior_points(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Points of the data, pulled 10 % towards the middle of its box (kernel edges are poor)."""
    rows = x[rng.choice(len(x), size=min(n, len(x)), replace=False)]
    middle = 0.5 * (x.min(axis=0) + x.max(axis=0))
    return middle + 0.8 * (rows - middle)


def interactions(sur: Surrogate, points: np.ndarray) -> np.ndarray:
    """(d, d): rms over points of d2g/dx_i dx_j * span_i * span_j / std(g)."""
    h = sur.hessian(points)
    spread = np.std(sur(points)) or 1.0
    grad = sur.gradient(points) * sur.span
    size = max(spread, float(np.sqrt(np.mean(grad ** 2))))
    m = np.sqrt(np.mean(h ** 2, axis=0)) * np.outer(sur.span, sur.span) / size
    np.fill_diagonal(m, 0.0)
    return m


def product_interactions(sur: Surrogate, points: np.ndarray) -> np.ndarray:
    """(d, d): the product test f * d2f/dx_i dx_j - df/dx_i * df/dx_j = 0 (which holds
    exactly when f = g(A) h(B) with i in A, j in B), relative to the size of its two
    terms; valid for outputs that change sign."""
    f = sur(points)
    h = sur.hessian(points)
    g = sur.gradient(points)
    first = f[:, None, None] * h
    second = g[:, :, None] * g[:, None, :]
    num = np.sqrt(np.mean((first - second) ** 2, axis=0))
    den = np.sqrt(np.mean(first ** 2, axis=0)) + np.sqrt(np.mean(second ** 2, axis=0))
    top = float(np.max(den)) or 1.0
    m = np.where(den > 1e-6 * top, num / np.where(den > 0, den, 1.0), 0.0)
    np.fill_diagonal(m, 0.0)
    return m


def components(matrix: np.ndarray, tol: float = INTERACTION_TOL) -> list[list[int]]:
    """Connected components of the graph {(i, j): matrix[i, j] > tol}."""
    d = len(matrix)
    seen, groups = set(), []
    for start in range(d):
        if start in seen:
            continue
        stack, group = [start], []
        seen.add(start)
        while stack:
            i = stack.pop()
            group.append(i)
            for j in range(d):
                if j not in seen and matrix[i, j] > tol:
                    seen.add(j)
                    stack.append(j)
        groups.append(sorted(group))
    return groups


def unused_inputs(sur: Surrogate, points: np.ndarray) -> list[int]:
    """Inputs whose (span-scaled) gradient is negligible next to the largest one."""
    grad = np.sqrt(np.mean((sur.gradient(points) * sur.span) ** 2, axis=0))
    top = float(np.max(grad)) or 1.0
    return [i for i, g in enumerate(grad) if g < UNUSED_TOL * top]


def symmetries(sur: Surrogate, points: np.ndarray,
               x: np.ndarray) -> list[tuple[float, str, int, int]]:
    """(residual, kind, i, j) for each pair whose symmetry test passes, best first.

    kind is one of 'minus' (x_i - x_j), 'plus', 'div' (x_i / x_j), 'mul'."""
    grad = sur.gradient(points)
    d = grad.shape[1]
    positive = np.all(x > 0, axis=0)
    out = []
    for i in range(d):
        for j in range(i + 1, d):
            gi, gj = grad[:, i], grad[:, j]
            size = np.sqrt(np.mean(gi ** 2)) + np.sqrt(np.mean(gj ** 2))
            if size == 0:
                continue
            tests = {"minus": gi + gj, "plus": gi - gj}
            if positive[i] and positive[j]:
                xi, xj = points[:, i], points[:, j]
                scale = np.sqrt(np.mean((xi * gi) ** 2)) + np.sqrt(np.mean((xj * gj) ** 2))
                if scale > 0:
                    tests["div"] = (xi * gi + xj * gj) * size / scale
                    tests["mul"] = (xi * gi - xj * gj) * size / scale
            for kind, residual in tests.items():
                r = float(np.sqrt(np.mean(residual ** 2)) / size)
                if r < SYMMETRY_TOL:
                    out.append((r, kind, i, j))
    out.sort()
    return out
