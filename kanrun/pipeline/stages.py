"""The pipeline's stages: each a function ``(model, data, cfg) -> (new model, loss rows)``.

``data`` is a :class:`StageData` (tensors, dataset, and a ``fit`` helper that reports each
optimizer step); ``cfg`` is the stage's settings from the schema. A stage never changes the
model it is given. It raises :class:`StageSkipped` when it cannot run on this model, and
:class:`StageFailed` (carrying the last good model) when training breaks down.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

from kanrun.kan import NonFiniteLossError

from .describe import edge_counts, rmse
from .errors import StageFailed, StageSkipped
from .schema import (
    AutoSymbolicStage,
    FitSettings,
    FitSymbolicStage,
    GridExtendStage,
    PruneStage,
    SparsifyStage,
    TrainStage,
)

log = logging.getLogger(__name__)

@dataclass
class StageData:
    """What a stage trains on, plus the hook that receives every optimizer step.

    ``on_step(row)`` gets ``{"grid", "train_rmse", "test_rmse", "reg"}``; it may raise (e.g.
    RunInterrupted) to stop the stage between two steps.
    """

    data: dict
    seed: int
    on_step: Callable[[dict], None]
    loss_fn: Callable | None = None

    @property
    def train_input(self) -> torch.Tensor:
        return self.data["train_input"]

    def fit(self, model, settings: FitSettings, **penalty) -> list[dict]:
        """Train ``model`` in place with ``settings``; returns one row per step."""
        rows: list[dict] = []
        grid = int(model.grid)

        def callback(info: dict) -> bool:
            row = {"grid": grid, "train_rmse": info["train_loss"],
                   "test_rmse": info["test_loss"], "reg": info["reg"]}
            rows.append(row)
            self.on_step(row)
            return False

        try:
            model.fit(
                self.data, opt=settings.optimizer, steps=settings.steps, lr=settings.lr,
                batch=settings.batch, update_grid=settings.update_grid,
                grid_update_num=settings.grid_update_num,
                stop_grid_update_step=settings.stop_grid_update_step, loss_fn=self.loss_fn,
                callback=callback, seed=self.seed, **penalty,
            )
        except NonFiniteLossError as err:
            raise StageFailed(str(err), model) from None
        return rows


def train(model, data: StageData, cfg: TrainStage):
    """Plain fit."""
    model = copy.deepcopy(model)
    return model, data.fit(model, cfg)


def sparsify(model, data: StageData, cfg: SparsifyStage):
    """Fit with the L1 + entropy penalty on the edge scales."""
    model = copy.deepcopy(model)
    rows = data.fit(model, cfg, lamb=cfg.lamb, lamb_l1=cfg.lamb_l1,
                    lamb_entropy=cfg.lamb_entropy, lamb_coef=cfg.lamb_coef,
                    lamb_coefdiff=cfg.lamb_coefdiff)
    return model, rows


def prune(model, data: StageData, cfg: PruneStage):
    """Drop weak nodes and edges (a smaller model, no training)."""
    smaller = model.prune(node_th=cfg.node_th, edge_th=cfg.edge_th, x=data.train_input)
    return smaller, []


def grid_extend(model, data: StageData, cfg: GridExtendStage):
    """Refine the spline grid to each of ``cfg.grids`` in turn and fit after each."""
    if not cfg.grids:
        raise StageSkipped("stage grid_extend skipped: pipeline.stages.grid_extend.grids is empty")
    rows: list[dict] = []
    for grid in cfg.grids:
        model = model.refine(int(grid), x=data.train_input, margin=cfg.margin)
        rows += data.fit(model, cfg)
    return model, rows


def auto_symbolic(model, data: StageData, cfg: AutoSymbolicStage):
    """Replace every spline edge by a library function: the combination the formula search
    judges best on the whole formula (``method=search``), or each edge's best fit (greedy)."""
    original = model
    model = copy.deepcopy(model)
    lib = list(cfg.lib) if cfg.lib is not None else None
    if cfg.method not in ("search", "greedy"):
        raise StageSkipped(f"stage auto_symbolic skipped: method must be search or greedy, "
                           f"got {cfg.method!r}")
    options = {}
    if cfg.method == "search":
        options = {"y": data.data["train_label"], "method": "search", "search_options": {
            "topk": cfg.topk, "beam_width": cfg.beam_width, "seconds": cfg.seconds}}
    try:
        result = model.auto_symbolic(lib=lib, weight_simple=cfg.weight_simple,
                                     r2_threshold=cfg.r2_threshold, x=data.train_input,
                                     **options)
    except Exception as err:  # the search is best effort: a sweep keeps going with greedy
        if not options:
            raise
        log.warning("auto_symbolic: the formula search failed (%r); using the greedy "
                    "per-edge choice", err)
        model = copy.deepcopy(original)
        result = model.auto_symbolic(lib=lib, weight_simple=cfg.weight_simple,
                                     r2_threshold=cfg.r2_threshold, x=data.train_input)
    if isinstance(result, type(model)):
        model = result
    return model, []


def fit_symbolic(model, data: StageData, cfg: FitSymbolicStage):
    """Refit (affine parameters of symbolic edges, remaining splines) after auto_symbolic."""
    if edge_counts(model)[1] == 0:
        raise StageSkipped("stage fit_symbolic skipped: no edge is symbolic (run auto_symbolic "
                           "before it)")
    before = rmse(model, data.train_input, data.data["train_label"], data.loss_fn)
    fitted = copy.deepcopy(model)
    rows = data.fit(fitted, cfg)
    after = rmse(fitted, data.train_input, data.data["train_label"], data.loss_fn)
    if not after <= before:  # a refit from a good start that ends worse went astray
        log.warning("fit_symbolic: the refit raised the training error (%.4g -> %.4g); the "
                    "symbolic model auto_symbolic made is kept", before, after)
        return copy.deepcopy(model), rows
    return fitted, rows


STAGES = {
    "train": train,
    "sparsify": sparsify,
    "prune": prune,
    "grid_extend": grid_extend,
    "auto_symbolic": auto_symbolic,
    "fit_symbolic": fit_symbolic,
}


def stage_settings(cfg, name: str):
    """The settings object a stage reads from the run config."""
    return getattr(cfg.pipeline.stages, name)
