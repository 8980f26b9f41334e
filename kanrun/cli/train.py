"""`kanrun train`: a Hydra app over the packaged configs (pkg://kanrun.configs, train.yaml).

Everything Hydra offers works: overrides, +experiment=NAME, -m sweeps, --cfg job, --help,
--config-dir, shell completion. The run folder is Hydra's output dir (hydra.run.dir=DIR).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from kanrun.cli.execute import EXIT_BAD_INPUT, remove_unstarted_run

CONFIG_PATH = "pkg://kanrun.configs"
CONFIG_NAME = "train"

# jobs of the current sweep that failed (the basic launcher runs them in this process)
_FAILED_JOBS: list[str] = []


def _task(cfg: DictConfig):
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from kanrun.pipeline.execute import execute

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    code, metrics = execute(cfg, run_dir)
    if code == EXIT_BAD_INPUT and hydra_cfg.mode != RunMode.MULTIRUN:
        remove_unstarted_run(run_dir)  # a sweep's report lists its failed jobs: keep those
    if code:
        if hydra_cfg.mode == RunMode.MULTIRUN and code < 128:  # a signal stops the sweep too
            _FAILED_JOBS.append(f"job {hydra_cfg.job.num} ({run_dir})")
            return None
        sys.exit(code)
    return metrics["test_rmse"] if metrics else None  # what a sweeper (e.g. optuna) minimizes


class SweepFailures(Callback):
    """After a sweep, the jobs whose run folder did not complete (any launcher: the joblib
    and submitit workers are other processes), so that ``kanrun train -m`` exits 1."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        for run_dir in sorted(p.parent.parent for p in sweep_dir.glob("**/.hydra/config.yaml")):
            if any(str(run_dir) in entry for entry in _FAILED_JOBS):
                continue
            metrics = run_dir / "metrics.json"
            try:
                status = json.loads(metrics.read_text()).get("status")
            except (OSError, ValueError):
                status = None
            if status != "completed":
                _FAILED_JOBS.append(f"{run_dir} ({status or 'did not start'})")


_app = hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name=CONFIG_NAME)(_task)


VALUE_FLAGS = {"-cp", "--config-path", "-cn", "--config-name", "-cd", "--config-dir",
               "-p", "--package", "-c", "--cfg", "-i", "--info", "--experimental-rerun"}


def _override_positions(argv: list[str]) -> list[int]:
    """Indices of the words of ``argv`` that are overrides (``key=value``, ``+key=value``,
    ``~key``), not flags nor a flag's value."""
    return [i for i, (before, word) in enumerate(zip([None, *argv], argv, strict=False))
            if before not in VALUE_FLAGS and not word.startswith("-")
            and ("=" in word or word.startswith("~"))]


def translate_old_keys(argv: list[str]) -> list[str]:
    """``argv`` with the old spellings ``regularization.KEY`` and ``grid.KEY`` of the sparsify
    and grid_extend stages' settings rewritten to ``pipeline.stages.sparsify.KEY`` and
    ``pipeline.stages.grid_extend.KEY`` (see kanrun.pipeline.legacy)."""
    from kanrun.pipeline.legacy import translate_override

    words = list(argv)
    if {"-sc", "--shell-completion"} & set(words):
        return words
    for i in _override_positions(words):
        words[i] = translate_override(words[i])
    return words


def _is_group(name: str) -> bool:
    from importlib.resources import files

    return (files("kanrun.configs") / name).is_dir()


def unknown_override(argv: list[str]) -> str | None:
    """Our message for a plain override of a key the schema lacks (``model.widht=5``).

    Hydra would answer "use +model.widht"; that adds the key, which the run then rejects.
    Group choices (``dataset=formula``), ``+``/``~`` overrides and ``hydra.*`` keys pass.
    """
    from kanrun.pipeline.schema import unknown_keys

    if {"-sc", "--shell-completion"} & set(argv):
        return None
    for i in _override_positions(argv):
        word = argv[i]
        key, eq, _ = word.partition("=")
        if not eq or word.startswith(("+", "~")) or "/" in key or key.startswith("hydra"):
            continue
        if "." not in key and _is_group(key):  # a preset group: regularization=strong
            continue
        nested: dict = {}
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = None
        found = unknown_keys(nested)
        if found:
            name, close = found[0]
            hint = f" Did you mean '{close}'?" if close else ""
            return (f"error: unknown config key '{name}'.{hint} (kanrun train --cfg job shows "
                    f"every key)")
    return None


def main(argv: list[str]) -> int:
    """Run the Hydra app on ``argv`` (the words after `kanrun train`)."""
    from kanrun.pipeline import register_configs

    argv = translate_old_keys(argv)
    message = unknown_override(argv)
    if message:
        print(message, file=sys.stderr)
        return EXIT_BAD_INPUT
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
