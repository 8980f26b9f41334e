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


def _run_unit(fn: Callable, fn_many: Callable | None, unit: list) -> list:
    """Run the jobs of ``unit`` ((index, settings, cache path) triples) with one torch
    thread: one by one with ``fn``, or all in one call of ``fn_many``; each result is cached
    as JSON where its path is set. Returns (index, result) pairs."""
    import torch

    torch.set_num_threads(1)
    if fn_many is None or len(unit) == 1:
        results = [fn(settings) for _, settings, _ in unit]
    else:
        results = fn_many([settings for _, settings, _ in unit])
    for (_, settings, cache), result in zip(unit, results, strict=True):
        if cache is not None:
            artifacts.write_json(cache, {"settings": settings, "result": result})
    return [(i, result) for (i, _, _), result in zip(unit, results, strict=True)]


def _units(todo: list, key: Callable | None, workers: int) -> list[list]:
    """The jobs to run grouped by ``key`` (None: one job per unit); groups are split in
    halves while there are fewer units than ``workers`` (no idle process)."""
    if key is None:
        return [[t] for t in todo]
    groups: dict = {}
    for t in todo:
        groups.setdefault(key(t[1]), []).append(t)
    units = list(groups.values())
    while len(units) < min(workers, len(todo)):
        units.sort(key=len)
        big = units.pop()
        units += [big[: len(big) // 2], big[len(big) // 2 :]]
    return units


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

    def map(self, fn: Callable[[dict], dict], jobs: list[dict], label: Callable = str,
            batched: tuple[Callable, Callable] | None = None) -> list:
        """``[fn(job) for job in jobs]`` on ``self.jobs`` processes, reusing cached results.

        ``fn`` must be a module-level function (it runs in worker processes) returning
        JSON-safe values. Results come back in the order of ``jobs``. ``batched`` =
        ``(fn_many, key)``: the jobs to run that share ``key(job)`` go to one call of
        ``fn_many`` (module-level, a list of jobs -> their results, each what ``fn`` gives);
        the cache stays one entry per job, under ``fn``'s name.
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
        fn_many, key = batched if batched is not None else (None, None)
        units = _units(todo, key, self.jobs)
        done = 0
        for pairs in self._execute(fn, fn_many, units):
            for i, result in pairs:
                results[i] = result
                done += 1
                self.progress(f"[{done}/{len(todo)}] {label(jobs[i])}")
        return results

    def _execute(self, fn, fn_many, units):
        if self.jobs <= 1 or len(units) <= 1:
            for unit in units:
                yield _run_unit(fn, fn_many, unit)
            return
        from joblib import Parallel, delayed

        os.environ.setdefault("OMP_NUM_THREADS", "1")
        parallel = Parallel(n_jobs=min(self.jobs, len(units)), backend="loky",
                            return_as="generator_unordered")
        yield from parallel(delayed(_run_unit)(fn, fn_many, unit) for unit in units)


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
