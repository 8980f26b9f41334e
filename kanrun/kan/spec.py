"""KANSpec: every argument of a KAN, checked once, in one frozen dataclass.

A spec is what a :class:`~kanrun.kan.model.KAN` and its :class:`~kanrun.kan.layer.KANLayer`
are built from, what a pruned or refined copy is built from (``spec.replace(width=...)``),
what a checkpoint stores (:meth:`KANSpec.as_dict`) and what the runner's ``model`` config
group is checked with. ``KAN(width, grid=..., k=...)`` (pykan's call) builds one.

``width`` lists the nodes of each layer: an entry is ``n`` (n sum nodes) or
``[n_sum, n_mult]``; each multiplication node multiplies ``mult_arity`` consecutive subnodes
of the layer below. ``grid`` is the number of spline intervals each edge starts with
(a layer's knot vector has ``grid + 2k + 1`` entries), ``grid_range`` the interval they
cover. ``dtype=None`` takes torch's default dtype at the time the spec is made, as pykan.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from kanrun.common.dtypes import DTYPES, torch_dtype

from .kernels import BASE_FUNCTIONS


class KANConfigError(ValueError):
    """The model was configured with impossible settings; the message says what to change.

    ``key`` names the offending argument (``"k"``, ``"width"``...) when there is one; the
    message then starts with it (so the runner can prefix ``model.``).
    """

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


def dtype_name(dtype) -> str:
    """``torch.float64`` (or ``"float64"``, ``"torch.float64"``) -> ``"float64"``."""
    dt = resolve_dtype(dtype)
    for name, known in DTYPES.items():
        if known == dt:
            return name
    raise KANConfigError(f"dtype must be one of {sorted(DTYPES)}, got {dtype}", "dtype")


def resolve_dtype(dtype) -> torch.dtype:
    """A dtype name, torch dtype or None (torch's default) -> a torch dtype."""
    if dtype is None:
        return torch.get_default_dtype()
    try:
        return torch_dtype(dtype)
    except ValueError as err:
        raise KANConfigError(str(err), "dtype") from None


def normalize_width(width) -> tuple[tuple[int, int], ...]:
    """``[2, [5, 2], 1]`` -> ``((2, 0), (5, 2), (1, 0))`` with checks."""
    if not isinstance(width, (list, tuple)) or len(width) < 2:
        raise KANConfigError(f"width must list at least two layers of nodes, got {width!r}",
                             "width")
    out = []
    for entry in width:
        if isinstance(entry, (list, tuple)):
            if len(entry) != 2:
                raise KANConfigError(
                    f"width: an entry must be n or [n_sum, n_mult], got {entry!r}", "width")
            n_sum, n_mult = int(entry[0]), int(entry[1])
        else:
            n_sum, n_mult = int(entry), 0
        if n_sum < 0 or n_mult < 0 or n_sum + n_mult < 1:
            raise KANConfigError(
                f"width: every layer needs at least one node, got {entry!r} in {list(width)!r}",
                "width")
        out.append((n_sum, n_mult))
    if out[0][1] or out[-1][1]:
        raise KANConfigError(
            "width: the input and output layers cannot have multiplication nodes", "width")
    return tuple(out)


def normalize_arity(width, mult_arity) -> tuple[tuple[int, ...], ...]:
    """Per node layer, the arity of each of its multiplication nodes."""
    if isinstance(mult_arity, int) and not isinstance(mult_arity, bool):
        if mult_arity < 2:
            raise KANConfigError(f"mult_arity must be >= 2, got {mult_arity}", "mult_arity")
        return tuple((mult_arity,) * n_mult for _, n_mult in width)
    if not isinstance(mult_arity, (list, tuple)):
        raise KANConfigError(f"mult_arity must be an int or a list per layer, got "
                             f"{mult_arity!r}", "mult_arity")
    ar = [tuple(map(int, a)) if isinstance(a, (list, tuple)) else (int(a),) * width[i][1]
          for i, a in enumerate(mult_arity)]
    if len(ar) != len(width) or any(len(a) != w[1] for a, w in zip(ar, width, strict=True)):
        raise KANConfigError("mult_arity must be an int or one list of arities per layer, "
                             "one entry per multiplication node", "mult_arity")
    if any(a < 2 for row in ar for a in row):
        raise KANConfigError("mult_arity: every multiplication node needs an arity >= 2",
                             "mult_arity")
    return tuple(ar)


@dataclass(frozen=True)
class KANSpec:
    """Every argument of a KAN (pykan's names and defaults); checked when made.

    Normalized on construction: ``width`` to ``((n_sum, n_mult), ...)``, ``mult_arity`` to
    one tuple of arities per node layer, ``grid_range`` to two floats, ``dtype`` to a name
    of :data:`DTYPES`. Raises :class:`KANConfigError` naming the argument.
    """

    width: Any
    grid: int = 3  # spline intervals per edge at the start
    k: int = 3  # spline order (0: piecewise constant)
    mult_arity: Any = 2  # an int, or one list of arities per layer
    noise_scale: float = 0.3  # size of the random initial curves
    scale_base_mu: float = 0.0
    scale_base_sigma: float = 1.0
    scale_sp: float = 1.0
    base_fun: str = "silu"  # a key of BASE_FUNCTIONS
    grid_eps: float = 0.02  # 0: knots at data percentiles, 1: uniform (update_grid)
    grid_range: Any = (-1.0, 1.0)
    sp_trainable: bool = True
    sb_trainable: bool = True
    affine_trainable: bool = False
    seed: int = 1  # the initial curves and base scales
    dtype: Any = None  # a name of DTYPES, a torch dtype, or None (torch's default)

    def __post_init__(self):
        width = normalize_width(self.width)
        fix = {"width": width, "mult_arity": normalize_arity(width, self.mult_arity),
               "dtype": dtype_name(self.dtype)}
        for name in ("grid", "k", "seed"):
            fix[name] = _integer(name, getattr(self, name))
        for name in ("noise_scale", "scale_base_mu", "scale_base_sigma", "scale_sp", "grid_eps"):
            fix[name] = float(getattr(self, name))
        for name in ("sp_trainable", "sb_trainable", "affine_trainable"):
            fix[name] = bool(getattr(self, name))
        if fix["grid"] < 1:
            raise KANConfigError(f"grid must be at least 1 interval, got {self.grid}", "grid")
        if fix["k"] < 0:  # k = 0: piecewise-constant splines (spline.py supports them)
            raise KANConfigError(f"k (the spline order) must be at least 0, got {self.k}", "k")
        if fix["seed"] < 0:
            raise KANConfigError(f"seed must be a non-negative integer, got {self.seed}", "seed")
        if self.base_fun not in BASE_FUNCTIONS:
            raise KANConfigError(f"base_fun must be one of {sorted(BASE_FUNCTIONS)}, got "
                                 f"{self.base_fun!r}", "base_fun")
        rng = self.grid_range
        if not isinstance(rng, (list, tuple)) or len(rng) != 2 or not float(rng[0]) < float(rng[1]):
            raise KANConfigError(f"grid_range must be [low, high] with low < high, got "
                                 f"{list(rng) if isinstance(rng, (list, tuple)) else rng}",
                                 "grid_range")
        fix["grid_range"] = (float(rng[0]), float(rng[1]))
        for name, value in fix.items():
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ derived
    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def depth(self) -> int:
        return len(self.width) - 1

    @property
    def width_in(self) -> list[int]:
        """Nodes per layer (sum + multiplication)."""
        return [s + m for s, m in self.width]

    @property
    def width_subnodes(self) -> list[int]:
        """Outputs of the layer feeding each node layer (sum nodes + product factors)."""
        return [s + sum(a) for (s, _), a in zip(self.width, self.mult_arity, strict=True)]

    # ------------------------------------------------------------------ copies and io
    def replace(self, **changes) -> KANSpec:
        """A checked copy with some arguments changed (e.g. ``width=...``, ``grid=...``)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        """Plain lists, numbers and strings (what a checkpoint and ``model.config`` hold)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["width"] = [list(w) for w in self.width]
        out["mult_arity"] = [list(a) for a in self.mult_arity]
        out["grid_range"] = list(self.grid_range)
        return out

    @classmethod
    def from_dict(cls, values: dict) -> KANSpec:
        """The inverse of :meth:`as_dict`; unknown keys are an error naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise KANConfigError(f"{unknown[0]} is not a model argument (unknown: {unknown}; "
                                 f"known: {sorted(names)})", unknown[0])
        return cls(**values)


def spec_fields() -> tuple[str, ...]:
    """The argument names of a KANSpec, in order."""
    return tuple(f.name for f in dataclasses.fields(KANSpec))


def _integer(name: str, value) -> int:
    try:
        whole = not isinstance(value, bool) and float(value) == int(value)
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole:
        raise KANConfigError(f"{name} must be an integer, got {value!r}", name)
    return int(value)


__all__ = ["KANSpec", "KANConfigError", "DTYPES", "BASE_FUNCTIONS", "dtype_name",
           "resolve_dtype", "normalize_width", "normalize_arity", "spec_fields"]
