"""The KAN paper's 15 special functions (`dataset.name=special dataset.function=jv`).

Labels come from `scipy.special` in float64. Input ranges (chosen where each function is
finite and of moderate size; the paper samples its two inputs in [0, 1]):

| name | scipy call | inputs and ranges |
|---|---|---|
| ellipj | ellipj(u, m)[0] (sn) | u in [0, 1], m in [0, 1] |
| ellipkinc | ellipkinc(phi, m) | phi in [0, 1], m in [0, 1] |
| ellipeinc | ellipeinc(phi, m) | phi in [0, 1], m in [0, 1] |
| jv, iv | jv(v, x), iv(v, x) | order v in [0, 1], x in [0, 1] |
| yv, kv | yv(v, x), kv(v, x) | order v in [0, 1], x in [0.1, 1] (they diverge at x=0) |
| lpmv_m{0,1,2} | lpmv(m, v, x) | degree v in [0, 1], x in [0, 1] (diverges at x=-1) |
| sph_harm_m{m}_n{n} | Re Y_n^m(theta, phi) | polar theta in [0, pi], azimuth phi in [0, 2 pi] |

Spherical harmonics use scipy's `sph_harm_y(n, m, theta, phi)` (scipy >= 1.15) or the
older `sph_harm(m, n, phi, theta)`; both include the Condon-Shortley phase. Their truth is
the closed form of the real part. `ellipj` has no sympy counterpart: its truth is None.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.special
import torch

from kanrun.data.bundle import DatasetBundle
from kanrun.data.config import DatasetConfig
from kanrun.data.errors import DatasetError
from kanrun.data.sampling import resolve_ranges, sample_function_dataset

NumpyFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

UNIT = (0.0, 1.0)
POSITIVE = (0.1, 1.0)
POLAR = (0.0, math.pi)
AZIMUTH = (0.0, 2.0 * math.pi)


@dataclass(frozen=True)
class SpecialFunction:
    name: str
    input_names: tuple[str, str]
    ranges: tuple[tuple[float, float], tuple[float, float]]
    function: NumpyFn  # float64 arrays (first input, second input) -> values
    truth: str | None  # sympy-parseable (with the special functions), or None
    about: str


def spherical_harmonic_real(m: int, n: int, theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Re Y_n^m at polar angle theta and azimuth phi, whichever scipy API exists."""
    if hasattr(scipy.special, "sph_harm_y"):
        return np.real(scipy.special.sph_harm_y(n, m, theta, phi))
    return np.real(scipy.special.sph_harm(m, n, phi, theta))  # pragma: no cover - old scipy


def _lpmv(m: int) -> NumpyFn:
    return lambda v, x: scipy.special.lpmv(m, v, x)


def _sph(m: int, n: int) -> NumpyFn:
    return lambda theta, phi: spherical_harmonic_real(m, n, theta, phi)


_SPH_TRUTH = {
    (0, 1): "sqrt(3)*cos(theta)/(2*sqrt(pi))",
    (1, 1): "-sqrt(6)*sin(theta)*cos(phi)/(4*sqrt(pi))",
    (0, 2): "sqrt(5)*(3*cos(theta)**2 - 1)/(4*sqrt(pi))",
    (1, 2): "-sqrt(30)*sin(theta)*cos(theta)*cos(phi)/(4*sqrt(pi))",
    (2, 2): "sqrt(30)*sin(theta)**2*cos(2*phi)/(8*sqrt(pi))",
}

_FUNCTIONS = [
    SpecialFunction(
        "ellipj",
        ("u", "m"),
        (UNIT, UNIT),
        lambda u, m: scipy.special.ellipj(u, m)[0],
        None,
        "Jacobi elliptic sn(u|m)",
    ),
    SpecialFunction(
        "ellipkinc",
        ("phi", "m"),
        (UNIT, UNIT),
        scipy.special.ellipkinc,
        "elliptic_f(phi, m)",
        "incomplete elliptic integral of the first kind F(phi|m)",
    ),
    SpecialFunction(
        "ellipeinc",
        ("phi", "m"),
        (UNIT, UNIT),
        scipy.special.ellipeinc,
        "elliptic_e(phi, m)",
        "incomplete elliptic integral of the second kind E(phi|m)",
    ),
    SpecialFunction(
        "jv",
        ("v", "x"),
        (UNIT, UNIT),
        scipy.special.jv,
        "besselj(v, x)",
        "Bessel function of the first kind J_v(x)",
    ),
    SpecialFunction(
        "yv",
        ("v", "x"),
        (UNIT, POSITIVE),
        scipy.special.yv,
        "bessely(v, x)",
        "Bessel function of the second kind Y_v(x)",
    ),
    SpecialFunction(
        "kv",
        ("v", "x"),
        (UNIT, POSITIVE),
        scipy.special.kv,
        "besselk(v, x)",
        "modified Bessel function of the second kind K_v(x)",
    ),
    SpecialFunction(
        "iv",
        ("v", "x"),
        (UNIT, UNIT),
        scipy.special.iv,
        "besseli(v, x)",
        "modified Bessel function of the first kind I_v(x)",
    ),
    *[
        SpecialFunction(
            f"lpmv_m{m}",
            ("v", "x"),
            (UNIT, UNIT),
            _lpmv(m),
            f"assoc_legendre(v, {m}, x)",
            f"associated Legendre function P_v^{m}(x)",
        )
        for m in (0, 1, 2)
    ],
    *[
        SpecialFunction(
            f"sph_harm_m{m}_n{n}",
            ("theta", "phi"),
            (POLAR, AZIMUTH),
            _sph(m, n),
            _SPH_TRUTH[(m, n)],
            f"real part of the spherical harmonic Y_{n}^{m}(theta, phi)",
        )
        for m, n in ((0, 1), (1, 1), (0, 2), (1, 2), (2, 2))
    ],
]

SPECIAL_FUNCTIONS: dict[str, SpecialFunction] = {f.name: f for f in _FUNCTIONS}


def list_special() -> list[str]:
    """Names of the special functions."""
    return list(SPECIAL_FUNCTIONS)


def get_special(name: str | None) -> SpecialFunction:
    if name not in SPECIAL_FUNCTIONS:
        raise DatasetError(
            f"unknown special function {name!r}; set dataset.function to one of "
            f"{', '.join(SPECIAL_FUNCTIONS)}"
        )
    return SPECIAL_FUNCTIONS[name]


def load_special(config: DatasetConfig) -> DatasetBundle:
    special = get_special(config.function)
    names = list(special.input_names)
    ranges = resolve_ranges(names, dict(zip(names, special.ranges, strict=True)), config)

    def labels(x: torch.Tensor) -> torch.Tensor:
        values = special.function(x[:, 0].numpy(), x[:, 1].numpy())
        return torch.from_numpy(np.asarray(values, dtype=np.float64))

    return sample_function_dataset(
        config,
        labels,
        names,
        ranges,
        label=f"special function {special.name}",
        description=f"special {special.name}: {special.about}",
        truth=None if special.truth is None else [special.truth],
    )
