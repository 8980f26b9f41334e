"""The runner's error types. Each message says what to change, so the CLI prints it as is."""

from __future__ import annotations


class RunConfigError(ValueError):
    """The composed config cannot run (bad value, impossible combination, missing file)."""


class StageSkipped(Exception):
    """A stage cannot run on this model (e.g. it has nothing to do); the run goes on."""


class StageFailed(Exception):
    """A stage stopped (e.g. a NaN loss); ``model`` is the last good model it had."""

    def __init__(self, message: str, model=None):
        super().__init__(message)
        self.model = model


class RunInterrupted(Exception):
    """SIGINT / SIGTERM arrived; the runner writes what it has and marks the run interrupted."""

    def __init__(self, signum: int):
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum
