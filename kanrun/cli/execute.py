"""The command line's side of a run: the bad-input exit code and the cleanup of a Hydra run
folder that never started. The run itself is `kanrun.pipeline.execute` (``execute``,
``to_run_config``); those names still import from here, loaded on first use so that
`kanrun train --help` does not pay for torch.
"""

from __future__ import annotations

from pathlib import Path

EXIT_BAD_INPUT = 2  # what kanrun.pipeline.execute returns for bad input (a test checks)

_FROM_PIPELINE = ("execute", "to_run_config", "user_errors", "full_error")


def __getattr__(name: str):
    if name in _FROM_PIPELINE:
        import importlib

        return getattr(importlib.import_module("kanrun.pipeline.execute"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
