"""Turn a composed config into a finished run folder and an exit code (train, resume, figures).

Bad input (a config the schema accepts but that cannot run, a dataset that cannot load)
is one log line ``error: ...`` and exit code 2, before any of our files is written; set
HYDRA_FULL_ERROR=1 to get the traceback instead.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from . import legacy
from .display import make_display
from .errors import RunConfigError
from .runner import run_pipeline
from .schema import RunConfig, unknown_keys
from .validate import check_config, prepare

log = logging.getLogger("kanrun.run")

EXIT_BAD_INPUT = 2


def full_error() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR", "") == "1"


def to_run_config(node):
    """A DictConfig (composed by Hydra or read from a run folder) -> a typed RunConfig."""
    values = OmegaConf.to_container(node, resolve=False) if OmegaConf.is_config(node) else node
    upgraded = legacy.upgrade(values)  # a run folder saved with a `regularization:`/`grid:` node
    if upgraded is not values:
        node = values = upgraded
    unknown = unknown_keys({k: v for k, v in values.items() if k != "hydra"})
    if unknown:
        key, close = unknown[0]
        hint = f" Did you mean '{close}'?" if close else ""
        raise RunConfigError(f"unknown config key '{key}'.{hint} (kanrun train --cfg job "
                             f"shows every key)")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(RunConfig), node)
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as err:
        message = str(err).strip().replace("\n", "; ")
        raise RunConfigError(f"invalid config: {message}") from None


def user_errors() -> tuple:
    from kanrun.data import DatasetError
    from kanrun.kan import CheckpointError, KANConfigError

    return (RunConfigError, DatasetError, KANConfigError, CheckpointError)


def execute(node, run_dir: Path, resume: bool = False) -> tuple[int, dict | None]:
    """Check, prepare and run; returns (exit code, metrics or None)."""
    import torch

    try:
        cfg = to_run_config(node)
        check_config(cfg)  # before anything acts on it (num_threads=0 would crash torch)
        torch.set_num_threads(int(cfg.num_threads))
        prepared = prepare(cfg)
    except user_errors() as err:
        if full_error():
            raise
        log.error("error: %s", err)
        return EXIT_BAD_INPUT, None
    display = make_display(cfg.quiet, cfg.pipeline.log_every)
    try:
        outcome = run_pipeline(prepared, Path(run_dir), display, resume=resume)
    except user_errors() as err:  # e.g. a resume whose checkpoint cannot be read
        if full_error():
            raise
        log.error("error: %s", err)
        return EXIT_BAD_INPUT, None
    except Exception:
        if full_error():
            raise
        log.exception("error: the run crashed (metrics.json says where); after a fix, "
                      "continue it with: kanrun resume %s", run_dir)
        return 1, None
    return outcome.exit_code, outcome.metrics
