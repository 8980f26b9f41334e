"""Turn a composed config into a finished run folder and an exit code (train and resume).

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

log = logging.getLogger("kanrun.run")

EXIT_BAD_INPUT = 2


def full_error() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR", "") == "1"


def to_run_config(node):
    """A DictConfig (composed by Hydra or read from a run folder) -> a typed RunConfig."""
    from kanrun.pipeline import RunConfig, RunConfigError
    from kanrun.pipeline.schema import unknown_keys

    values = OmegaConf.to_container(node, resolve=False) if OmegaConf.is_config(node) else node
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
    from kanrun.pipeline import RunConfigError

    return (RunConfigError, DatasetError, KANConfigError, CheckpointError)


def execute(node, run_dir: Path, resume: bool = False) -> tuple[int, dict | None]:
    """Check, prepare and run; returns (exit code, metrics or None)."""
    import torch

    from kanrun.pipeline import check_config, make_display, prepare, run_pipeline

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


HYDRA_FILES = (".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml", "run.log")


def remove_unstarted_run(run_dir: Path) -> None:
    """Remove the files Hydra made for a run that stopped on bad input (and the folder if
    that empties it): a config error leaves no half-written run folder behind."""
    run_dir = Path(run_dir)
    if (run_dir / "metrics.json").exists() or (run_dir / "state.json").exists():
        return
    for name in HYDRA_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for folder in (run_dir / ".hydra", run_dir):
        try:
            folder.rmdir()
        except OSError:  # not empty: something else lives there
            return
