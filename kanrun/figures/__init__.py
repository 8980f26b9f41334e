"""The KAN paper's figures, regenerated from committed configs (`kanrun figure NAME`).

Each figure module has ``ABOUT`` (one line) and ``run(ctx)``, which computes its jobs with
``ctx.map`` and writes PNG, CSV and README.md (our numbers beside the paper's) to ctx.out.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from kanrun.pipeline import artifacts

from . import feynman, grid_extension, hellokan, scaling, special
from .context import FigureContext, FigureError, load_config

FIGURES = {
    "grid_extension": grid_extension,
    "scaling": scaling,
    "special": special,
    "feynman": feynman,
    "hellokan": hellokan,
}


def make_figure(name: str, quick: bool = False, overrides=(), jobs: int = 1,
                out: Path | None = None, fresh: bool = False, progress=None) -> Path:
    """Run figure ``name`` and return its output folder."""
    if name not in FIGURES:
        raise FigureError(f"unknown figure '{name}' (figures: {', '.join(FIGURES)})")
    cfg = load_config(name, quick, overrides)
    out = Path(out) if out is not None else Path("figures") / (f"{name}-quick" if quick else name)
    if out.exists() and not out.is_dir():
        raise FigureError(f"output path {out} exists and is not a folder")
    if fresh and (out / "jobs").is_dir():
        shutil.rmtree(out / "jobs")
    ctx = FigureContext(name=name, cfg=cfg, out=out, quick=quick, jobs=int(jobs), fresh=fresh,
                        progress=progress or (lambda message: None))
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    FIGURES[name].run(ctx)
    artifacts.write_json(out / "run.json", {
        "figure": name, "quick": quick, "jobs": int(jobs), "overrides": list(overrides),
        "wall_seconds": round(time.perf_counter() - start, 1)})
    return out


__all__ = ["FIGURES", "FigureContext", "FigureError", "load_config", "make_figure"]
