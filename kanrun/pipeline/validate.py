"""From a typed config to checked inputs: the dataset and the initial model.

Everything here runs before the run folder gets any file of ours, so a bad config stops
with one :class:`RunConfigError` (or the dataset's :class:`DatasetError`) and leaves no
``metrics.json`` behind. Messages name the config key and what to set it to.
"""

from __future__ import annotations

import difflib
import logging
import math
from dataclasses import asdict, dataclass

import torch

from kanrun.data import DatasetBundle, DatasetConfig, load_dataset, to_dataset_config
from kanrun.kan import KAN, KANConfigError, KANSpec
from kanrun.kan.spec import normalize_width, spec_fields

from .discovery import check_discovery, uses_discovery
from .errors import RunConfigError
from .quality import KEEP_BEST
from .schema import DTYPES, OPTIMIZERS, STAGE_NAMES, FitSettings, ModelConfig, RunConfig

log = logging.getLogger("kanrun.run")


@dataclass
class Prepared:
    """What a run starts from."""

    cfg: RunConfig
    dataset: DatasetConfig
    bundle: DatasetBundle
    model: KAN | None  # None: a discovery run (no shape given)


def check_config(cfg: RunConfig) -> None:
    """Checks that need no data: stage names, optimizer settings, grids, dtypes."""
    _check_globals(cfg)
    if uses_discovery(cfg):
        return
    _check_order(cfg.pipeline.order)
    stages = cfg.pipeline.stages
    fits = {
        "pipeline.stages.train": stages.train,
        "pipeline.stages.sparsify": stages.sparsify,
        "pipeline.stages.grid_extend": stages.grid_extend,
        "pipeline.stages.fit_symbolic": stages.fit_symbolic,
    }
    for where, settings in fits.items():
        _check_fit(where, settings)
    for key in ("lamb", "lamb_l1", "lamb_entropy", "lamb_coef", "lamb_coefdiff"):
        _non_negative(f"pipeline.stages.sparsify.{key}", getattr(stages.sparsify, key))
    _non_negative("pipeline.stages.prune.node_th", stages.prune.node_th)
    _non_negative("pipeline.stages.prune.edge_th", stages.prune.edge_th)
    weight = stages.auto_symbolic.weight_simple
    if not 0.0 <= weight <= 1.0:
        raise RunConfigError(
            f"pipeline.stages.auto_symbolic.weight_simple must be between 0 and 1, got {weight}")
    if cfg.pipeline.formula_digits < 1:
        raise RunConfigError(
            f"pipeline.formula_digits must be at least 1, got {cfg.pipeline.formula_digits}")
    if cfg.pipeline.keep_best not in KEEP_BEST:
        raise RunConfigError(f"pipeline.keep_best must be one of {', '.join(KEEP_BEST)}, got "
                             f"'{cfg.pipeline.keep_best}'")
    if not (math.isfinite(cfg.pipeline.worse_factor) and cfg.pipeline.worse_factor > 1):
        raise RunConfigError(f"pipeline.worse_factor must be a number > 1, got "
                             f"{cfg.pipeline.worse_factor}")
    if cfg.pipeline.log_every < 1:
        raise RunConfigError(f"pipeline.log_every must be at least 1, got {cfg.pipeline.log_every}")
    _check_model(cfg)
    if "grid_extend" in cfg.pipeline.order:
        extend = cfg.pipeline.stages.grid_extend
        _check_grids(cfg.model.grid, list(extend.grids))
        if extend.margin is not None and not extend.margin >= 0:
            raise RunConfigError(f"pipeline.stages.grid_extend.margin must be a non-negative "
                                 f"fraction of the data range (e.g. 0.05) or null, got "
                                 f"{extend.margin}")


def prepare(cfg: RunConfig) -> Prepared:
    """Check ``cfg``, load its dataset and build the initial model (nothing is written)."""
    check_config(cfg)
    if uses_discovery(cfg):  # no shape given: the formula is searched (pipeline/discovery.py)
        dataset = to_dataset_config({**asdict(cfg.dataset), "dtype": "float64"})
        bundle = load_dataset(dataset)
        check_discovery(cfg, bundle)
        return Prepared(cfg=cfg, dataset=dataset, bundle=bundle, model=None)
    if "grid_extend" in cfg.pipeline.order:
        extend = cfg.pipeline.stages.grid_extend
        kept = usable_grids(cfg.model.grid, list(extend.grids))
        if kept != list(extend.grids):
            log.warning("pipeline.stages.grid_extend.grids=%s: skipping the grids <= model.grid "
                        "(%d); extending to %s", list(extend.grids), cfg.model.grid, kept)
            extend.grids = kept
    dataset = to_dataset_config(asdict(cfg.dataset))
    bundle = load_dataset(dataset)
    width = resolve_width(cfg.model.width, cfg.model.hidden, bundle)
    spec = model_spec(cfg.model, width, "model.width")
    model = KAN.from_spec(spec, device=_device(cfg.model.device))
    return Prepared(cfg=cfg, dataset=dataset, bundle=bundle, model=model)


def model_spec(m: ModelConfig, width, width_key: str) -> KANSpec:
    """The model's KANSpec from the `model` group (with ``width`` in place of width/hidden);
    its checks become one RunConfigError naming the key (``width_key`` for the width)."""
    values = {name: getattr(m, name) for name in spec_fields() if name != "width"}
    try:
        return KANSpec(width=width, **values)
    except KANConfigError as err:
        if err.key in (None, "width"):
            raise RunConfigError(f"{width_key}: {err}") from None
        raise RunConfigError(f"model.{err}") from None
    except (TypeError, ValueError) as err:  # width entries that are not numbers
        raise RunConfigError(f"{width_key}: {err}") from None


def _check_globals(cfg: RunConfig) -> None:
    for key, value in (("dtype", cfg.dtype), ("model.dtype", cfg.model.dtype)):
        if value not in DTYPES:
            raise RunConfigError(f"{key} must be one of {', '.join(DTYPES)}, got '{value}'")
    if cfg.num_threads < 1:
        raise RunConfigError(f"num_threads must be at least 1, got {cfg.num_threads}")
    if cfg.seed < 0:  # model.seed is checked with the model (KANSpec)
        raise RunConfigError(f"seed must be a non-negative integer, got {cfg.seed}")


def _check_order(order) -> None:
    if not order:
        raise RunConfigError(
            f"pipeline.order is empty; list the stages to run, e.g. "
            f"pipeline.order=[{','.join(STAGE_NAMES)}]")
    seen = set()
    for name in order:
        if name not in STAGE_NAMES:
            close = difflib.get_close_matches(str(name), STAGE_NAMES, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise RunConfigError(
                f"unknown stage '{name}' in pipeline.order.{hint} "
                f"Stages: {', '.join(STAGE_NAMES)}.")
        if name in seen:
            raise RunConfigError(f"stage '{name}' appears twice in pipeline.order; list it once")
        seen.add(name)


def _check_fit(where: str, s: FitSettings) -> None:
    if s.steps < 0:
        raise RunConfigError(f"{where}.steps must be >= 0, got {s.steps}")
    if s.optimizer not in OPTIMIZERS:
        raise RunConfigError(
            f"{where}.optimizer must be one of {', '.join(OPTIMIZERS)}, got '{s.optimizer}'")
    if not (math.isfinite(s.lr) and s.lr > 0):
        raise RunConfigError(f"{where}.lr must be a positive number, got {s.lr}")
    if s.batch != -1 and s.batch < 1:
        raise RunConfigError(f"{where}.batch must be -1 (full batch) or a positive size, "
                             f"got {s.batch}")
    if s.grid_update_num < 1:
        raise RunConfigError(f"{where}.grid_update_num must be at least 1, got {s.grid_update_num}")


def _non_negative(key: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise RunConfigError(f"{key} must be a finite number >= 0, got {value}")


def default_hidden(bundle: DatasetBundle) -> list:
    """The hidden layers of a run whose config gives neither model.width nor model.hidden.

    One layer of 5 sum nodes (pykan's hellokan shape), for any data. The one place that
    chooses a shape by itself: a structure search can replace it.
    """
    return [5]


def _data_ends(bundle: DatasetBundle) -> tuple[int, int]:
    n_out = bundle.n_classes if bundle.task == "classification" else bundle.n_outputs
    return bundle.n_inputs, n_out


def resolve_width(width, hidden, bundle: DatasetBundle) -> list:
    """The model's full width: ``width`` checked against the data, its null ends filled from
    the data, or ``[n_in, *hidden, n_out]`` (``hidden`` defaults to :func:`default_hidden`)."""
    n_in, n_out = _data_ends(bundle)
    if width is None:
        layers = list(hidden) if hidden is not None else default_hidden(bundle)
        return [n_in, *layers, n_out]
    width = list(width)
    full = [n_in if k == 0 and w is None else n_out if k == len(width) - 1 and w is None
            else w for k, w in enumerate(width)]
    _check_width_fits(full, bundle)
    return full


def _check_model(cfg: RunConfig) -> None:
    m = cfg.model
    if m.width is not None and m.hidden is not None:
        raise RunConfigError("set model.width (the full shape) or model.hidden (the hidden "
                             "layers; the data give the ends), not both")
    if m.width is not None:
        width = list(m.width)
        if len(width) < 2:
            raise RunConfigError(
                f"model.width lists every layer, inputs and outputs included, got {width}; "
                f"to give only the hidden layers set model.hidden={width} (or "
                f"model.width=[null,{','.join(map(str, width))},null])")
        if any(w is None for w in width[1:-1]):
            raise RunConfigError(f"model.width: only its first and last entries may be null "
                                 f"(taken from the data), got {width}")
        probe = [1 if w is None else w for w in width]
    else:
        probe = [1, *(m.hidden if m.hidden is not None else [1]), 1]
        if m.hidden is not None and any(h is None for h in m.hidden):
            raise RunConfigError(f"model.hidden lists hidden layer sizes, got {list(m.hidden)}")
    model_spec(m, probe, "model.width" if m.width is not None else "model.hidden")
    if m.k < 1:  # a run's own rule on top of KANSpec's k >= 0 (kept from before KANSpec)
        raise RunConfigError(f"model.k (the spline order) must be at least 1 for a run, got "
                             f"{m.k} (k=0 piecewise-constant splines: use the library)")
    _device(m.device)


def _check_grids(start: int, grids: list[int]) -> None:
    """pipeline.stages.grid_extend.grids must grow; entries <= model.grid are dropped later
    (usable_grids), but at least one must be larger (a sweep over model.grid=3,5,10 keeps
    [20] for grid 10)."""
    for before, g in zip(grids, grids[1:], strict=False):
        if g <= before:
            raise RunConfigError(
                f"pipeline.stages.grid_extend.grids must grow: each grid larger than the one "
                f"before it; got {grids}. Set e.g. "
                f"pipeline.stages.grid_extend.grids=[{2 * start},{4 * start}]")
    if grids and not usable_grids(start, grids):
        raise RunConfigError(
            f"every grid in pipeline.stages.grid_extend.grids={grids} is <= model.grid "
            f"({start}): nothing to extend to. Set e.g. "
            f"pipeline.stages.grid_extend.grids=[{2 * start},{4 * start}] (or grid=none)")


def usable_grids(start: int, grids: list[int]) -> list[int]:
    """The grids of the schedule larger than the initial grid."""
    return [g for g in grids if g > start]


def _check_width_fits(width, bundle: DatasetBundle) -> None:
    layers = normalize_width(list(width))
    n_in, n_out = layers[0][0], layers[-1][0]
    shape = ",".join(str(w).replace(" ", "") for w in width[1:-1])
    if n_in != bundle.n_inputs:
        names = ", ".join(bundle.input_names)
        raise RunConfigError(
            f"model.width starts with {n_in} input(s) but the dataset has {bundle.n_inputs} "
            f"({names}); set model.width=[{bundle.n_inputs},{shape},{n_out}] (or only the "
            f"hidden layers: model.hidden=[{shape}])")
    want = bundle.n_classes if bundle.task == "classification" else bundle.n_outputs
    what = "classes" if bundle.task == "classification" else "output(s)"
    if n_out != want:
        raise RunConfigError(
            f"model.width ends with {n_out} output(s) but the dataset has {want} {what}; "
            f"set model.width=[{n_in},{shape},{want}]")


def _device(name):
    if name is None:
        return None
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise RunConfigError(f"model.device: {err}; use e.g. cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RunConfigError("model.device is cuda but torch sees no GPU; set model.device=cpu")
    return device
