"""What a figure job needs: its config, its output folder, and a parallel map over jobs.

A figure's config lives in ``configs/figure/NAME.yaml``; its ``quick`` section is merged
over the rest for the quick variant, and ``key=value`` overrides come last. Each job's
result is kept as JSON under ``OUT/jobs/`` (keyed by the job's settings), so a long run
that stops can be started again and only redoes the jobs that had not finished.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from kanrun.pipeline import artifacts


class FigureError(ValueError):
    """Bad figure name, config or override: the message says what to change."""


def load_config(name: str, quick: bool, overrides: Iterable[str] = ()) -> DictConfig:
    """The figure's config: the file, its ``quick`` section when asked, then overrides."""
    path = resources.files("kanrun.configs").joinpath("figure", f"{name}.yaml")
    if not path.is_file():
        raise FigureError(f"no config for figure '{name}' (expected configs/figure/{name}.yaml)")
    cfg = OmegaConf.create(path.read_text("utf-8"))
    quick_part = cfg.pop("quick", None)
    if quick and quick_part is not None:
        cfg = OmegaConf.merge(cfg, quick_part)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise FigureError(f"override '{item}' is not KEY=VALUE (e.g. steps=50)")
        if OmegaConf.select(cfg, key, default=_MISSING) is _MISSING:
            keys = ", ".join(str(k) for k in cfg)
            raise FigureError(f"unknown key '{key}' for figure '{name}' (keys: {keys})")
        try:
            OmegaConf.update(cfg, key, OmegaConf.create(f"v: {value}").v, merge=False)
        except OmegaConfBaseException as err:
            raise FigureError(f"override '{item}': {err}") from None
    return cfg


_MISSING = object()


def job_key(settings: dict) -> str:
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _run_job(fn: Callable, settings: dict, cache: Path | None) -> dict:
    """Run one job with one torch thread; its result is cached as JSON when ``cache``."""
    import torch

    torch.set_num_threads(1)
    result = fn(settings)
    if cache is not None:
        artifacts.write_json(cache, {"settings": settings, "result": result})
    return result


@dataclass
class FigureContext:
    name: str
    cfg: DictConfig
    out: Path
    quick: bool = False
    jobs: int = 1
    fresh: bool = False
    progress: Callable[[str], None] = field(default=lambda message: None)

    def settings(self) -> dict:
        return OmegaConf.to_container(self.cfg, resolve=True)

    def map(self, fn: Callable[[dict], dict], jobs: list[dict], label: Callable = str) -> list:
        """``[fn(job) for job in jobs]`` on ``self.jobs`` processes, reusing cached results.

        ``fn`` must be a module-level function (it runs in worker processes) returning
        JSON-safe values. Results come back in the order of ``jobs``.
        """
        cache_dir = self.out / "jobs"
        results: list = [None] * len(jobs)
        todo = []
        for i, job in enumerate(jobs):
            path = cache_dir / f"{job_key({'fn': fn.__qualname__, **job})}.json"
            if not self.fresh and path.is_file():
                try:
                    results[i] = artifacts.read_json(path)["result"]
                    continue
                except (OSError, ValueError, KeyError):
                    pass  # unreadable cache entry: run the job again
            todo.append((i, job, path))
        if len(todo) < len(jobs):
            self.progress(f"{len(jobs) - len(todo)} of {len(jobs)} jobs reused from {cache_dir}")
        for done, (i, result) in enumerate(self._execute(fn, todo), start=1):
            results[i] = result
            self.progress(f"[{done}/{len(todo)}] {label(jobs[i])}")
        return results

    def _execute(self, fn, todo):
        if self.jobs <= 1 or len(todo) <= 1:
            for i, job, path in todo:
                yield i, _run_job(fn, job, path)
            return
        from joblib import Parallel, delayed

        os.environ.setdefault("OMP_NUM_THREADS", "1")
        parallel = Parallel(n_jobs=min(self.jobs, len(todo)), backend="loky",
                            return_as="generator_unordered")
        calls = (delayed(_indexed)(i, fn, job, path) for i, job, path in todo)
        yield from parallel(calls)


def _indexed(i, fn, job, path):
    return i, _run_job(fn, job, path)


def finite(value) -> float | None:
    """A float for tables and JSON: None for missing, NaN or infinite values."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def sci(value, digits: int = 2) -> str:
    """Scientific notation for tables ('-' when missing)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{float(value):.{digits - 1}e}"
