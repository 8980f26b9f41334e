"""`kanrun train`: a Hydra app over the packaged configs (pkg://kanrun.configs, train.yaml).

Everything Hydra offers works: overrides, +experiment=NAME, -m sweeps, --cfg job, --help,
--config-dir, shell completion. The run folder is Hydra's output dir (hydra.run.dir=DIR).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from kanrun.cli.execute import execute

CONFIG_PATH = "pkg://kanrun.configs"
CONFIG_NAME = "train"

# jobs of the current sweep that failed (the basic launcher runs them in this process)
_FAILED_JOBS: list[str] = []


def _task(cfg: DictConfig):
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    code, metrics = execute(cfg, run_dir)
    if code:
        if hydra_cfg.mode == RunMode.MULTIRUN and code < 128:  # a signal stops the sweep too
            _FAILED_JOBS.append(f"job {hydra_cfg.job.num} ({run_dir})")
            return None
        sys.exit(code)
    return metrics["test_rmse"] if metrics else None  # what a sweeper (e.g. optuna) minimizes


_app = hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name=CONFIG_NAME)(_task)


def main(argv: list[str]) -> int:
    """Run the Hydra app on ``argv`` (the words after `kanrun train`)."""
    from kanrun.pipeline import register_configs

    register_configs()
    saved = sys.argv
    sys.argv = [saved[0], *argv]
    _FAILED_JOBS.clear()
    try:
        _app()
    finally:
        sys.argv = saved
    if _FAILED_JOBS:
        print(f"error: {len(_FAILED_JOBS)} job(s) of the sweep failed: "
              f"{', '.join(_FAILED_JOBS)}; see their run.log", file=sys.stderr)
        return 1
    return 0
