"""How a run's test error moved from stage to stage: losses, the best stage, what to keep.

Pure functions over stage rows (stages.csv rows: ``stage``, ``status``, ``test_rmse``), so a
resumed run gets the same verdicts as an uninterrupted one. For classification the error
is the square root of the test cross-entropy, as in the stage rows.
"""

from __future__ import annotations

import math

# a stage that multiplies the test error by at least this much "made it worse"
WORSE_FACTOR = 3.0
# stages whose losses are meant to be repaired by the stages after them (and are not always)
LOSSY_STAGES = ("sparsify", "prune")
KEEP_BEST = ("auto", "best", "last")


def _error(row: dict) -> float | None:
    value = row.get("test_rmse")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _completed(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("status") == "completed" and _error(r) is not None]


def worsening(before: dict | None, after: dict, factor: float = WORSE_FACTOR) -> dict | None:
    """``{stage, after_stage, before, after, factor}`` when ``after`` is ``factor`` x worse."""
    if before is None or _error(before) is None or _error(after) is None:
        return None
    old, new = _error(before), _error(after)
    ratio = new / old if old > 0 else (math.inf if new > 0 else 1.0)
    if ratio < factor:
        return None
    return {"stage": after["stage"], "after_stage": before["stage"], "before": old,
            "after": new, "factor": round(ratio, 1) if math.isfinite(ratio) else None}


def worsenings(rows: list[dict], factor: float = WORSE_FACTOR) -> list[dict]:
    """Every completed stage that made the test error ``factor`` x worse than the stage
    completed before it."""
    done = _completed(rows)
    pairs = zip(done, done[1:], strict=False)
    return [w for a, b in pairs if (w := worsening(a, b, factor)) is not None]


def best_stage(rows: list[dict]) -> tuple[str, float] | None:
    """(stage, test error) of the completed stage with the lowest test error (the later one
    on ties)."""
    done = _completed(rows)
    if not done:
        return None
    best = min(reversed(done), key=_error)
    return best["stage"], _error(best)


def unrecovered(rows: list[dict], factor: float = WORSE_FACTOR) -> list[dict]:
    """Losses of the lossy stages (sparsify, prune) that no later stage made good: every
    completed stage after the loss still has ``factor`` x the error before it."""
    done = _completed(rows)
    out = []
    for w in worsenings(rows, factor):
        if w["stage"] not in LOSSY_STAGES:
            continue
        at = max(k for k, r in enumerate(done) if r["stage"] == w["stage"])
        if all(_error(r) >= factor * w["before"] for r in done[at + 1:]):
            out.append(w)
    return out


def stage_to_keep(rows: list[dict], mode: str, factor: float = WORSE_FACTOR) -> str | None:
    """The stage whose model the run should end with, if not the last one.

    ``last``: never switch. ``best``: the best stage whenever it beats the last.
    ``auto``: the best stage only when a sparsify or prune loss was not recovered.
    """
    done = _completed(rows)
    best = best_stage(rows)
    if mode == "last" or not done or best is None or best[0] == done[-1]["stage"]:
        return None
    if best[1] >= _error(done[-1]):
        return None
    if mode == "best" or (mode == "auto" and unrecovered(rows, factor)):
        return best[0]
    return None


def worse_message(w: dict, metric: str = "test RMSE") -> str:
    times = f"{w['factor']:g}x" if w["factor"] is not None else "infinitely"
    return (f"stage {w['stage']} made the {metric} {times} worse ({w['before']:.3g} after "
            f"{w['after_stage']} -> {w['after']:.3g})")


__all__ = ["WORSE_FACTOR", "KEEP_BEST", "worsening", "worsenings", "best_stage",
           "unrecovered", "stage_to_keep", "worse_message"]
