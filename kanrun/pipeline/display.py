"""What the user sees while a run goes: a live rich display, or plain log lines.

Both displays get the same events from the runner. The plain one (``quiet=true``, or when
the output is not a terminal) writes log lines, which also land in run.log; the rich one
draws a progress bar per stage (step, train/test RMSE, grid) and ends with a table of the
stages. Stage-level lines are logged in both modes, so run.log tells the story either way.
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("kanrun.run")


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3e}"
    return str(value)


STAGE_TABLE = ("stage", "status", "width", "n_params", "n_edges", "grid", "train_rmse",
               "test_rmse", "seconds")


def _table_cells(row: dict) -> list[str]:
    cells = []
    for col in STAGE_TABLE:
        value = row.get(col)
        cells.append(f"{value:.1f}" if col == "seconds" and value is not None else _fmt(value))
    return cells


def formula_lines(formula) -> list[str]:
    lines = []
    for out in formula.outputs:
        note = ""
        if out.recovered is not None:
            note = "  (recovered)" if out.recovered else f"  (not recovered; truth {out.truth})"
        lines.append(f"{out.name} = {out.expr}{note}")
    return lines


class PlainDisplay:
    """Log lines: one per stage start and end, one every ``log_every`` steps."""

    def __init__(self, log_every: int = 10):
        self.log_every = max(1, int(log_every))
        self._stage = None
        self._total = 0
        self._done = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def stage_start(self, name: str, index: int, total: int, steps: int) -> None:
        self._stage, self._total, self._done = name, steps, 0
        extra = f" ({steps} optimizer steps)" if steps else ""
        log.info("stage %d/%d: %s%s", index + 1, total, name, extra)

    def step(self, row: dict) -> None:
        self._done += 1
        if self._done % self.log_every == 0 or self._done == self._total:
            log.info("[%s] step %d/%d  train %s  test %s  grid %d", self._stage, self._done,
                     self._total, _fmt(row["train_rmse"]), _fmt(row["test_rmse"]), row["grid"])

    def stage_end(self, row: dict) -> None:
        if row["status"] != "completed":
            return
        log.info("[%s] done in %.1f s: width %s, %d params, train %s, test %s, grid %d",
                 row["stage"], row["seconds"], row["width"], row["n_params"],
                 _fmt(row["train_rmse"]), _fmt(row["test_rmse"]), row["grid"])

    def note(self, message: str, level: int = logging.INFO) -> None:
        log.log(level, message)

    def finish(self, stage_rows: list[dict], formula, metrics: dict) -> None:
        widths = [max(len(c), *(len(_table_cells(r)[i]) for r in stage_rows))
                  for i, c in enumerate(STAGE_TABLE)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(STAGE_TABLE, widths, strict=True))]
        for r in stage_rows:
            cells = zip(_table_cells(r), widths, strict=True)
            lines.append("  ".join(c.ljust(w) for c, w in cells))
        log.info("stages:\n%s", "\n".join(lines))
        _log_result(formula, metrics)


def _log_result(formula, metrics: dict) -> None:
    if metrics.get("test_accuracy") is not None:  # classification: the loss is sqrt(CE)
        log.info("run %s in %.1f s: test accuracy %.4g, test sqrt(cross-entropy) %s",
                 metrics["status"], metrics["seconds"], metrics["test_accuracy"],
                 _fmt(metrics.get("test_rmse")))
    else:
        log.info("run %s in %.1f s: test RMSE %s", metrics["status"], metrics["seconds"],
                 _fmt(metrics.get("test_rmse")))
    if formula is not None:
        for line in formula_lines(formula):
            log.info("formula: %s", line)
        accuracy, formula_accuracy = (metrics.get("test_accuracy"),
                                      metrics.get("formula_test_accuracy"))
        if accuracy is not None and formula_accuracy is not None \
                and formula_accuracy < accuracy - 0.02:
            log.warning("the logit formulas classify %.1f%% of the test set correctly, the "
                        "network %.1f%%: the network remains the result",
                        100 * formula_accuracy, 100 * accuracy)
        if metrics.get("formula_status") == "approximate":
            if metrics.get("network_test_rmse") is not None:
                log.warning("formula_status: approximate - the formula's test RMSE %s is far "
                            "from the network's %s or from the data (see formulas.csv); it is "
                            "not the law", _fmt(metrics.get("formula_test_rmse")),
                            _fmt(metrics.get("network_test_rmse")))
            else:
                log.warning("formula_status: approximate - the formula's test RMSE %s is far "
                            "above the data's noise floor %s: no exact law was found (see "
                            "candidates.csv; pipeline.discover.budget=... searches longer)",
                            _fmt(metrics.get("formula_test_rmse")),
                            _fmt(max(metrics.get("noise_floor") or [float("nan")])))


class RichDisplay(PlainDisplay):
    """A progress bar per stage; log lines are drawn above it by a RichHandler."""

    def __init__(self, log_every: int = 10):
        super().__init__(log_every)
        from rich.console import Console

        self.console = Console(stderr=True)
        self._progress = None
        self._task = None
        self._swapped: list = []

    def __enter__(self):
        from rich.logging import RichHandler
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        root = logging.getLogger()
        for handler in list(root.handlers):
            stream = getattr(handler, "stream", None)
            if type(handler) is logging.StreamHandler and stream in (sys.stderr, sys.stdout):
                rich_handler = RichHandler(console=self.console, show_time=False,
                                           show_level=False, show_path=False, markup=False)
                rich_handler.setLevel(handler.level)
                root.removeHandler(handler)
                root.addHandler(rich_handler)
                self._swapped.append((handler, rich_handler))
        self._progress = Progress(
            TextColumn("[bold]{task.description:<13}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=self.console,
        )
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
        root = logging.getLogger()
        for handler, rich_handler in self._swapped:
            root.removeHandler(rich_handler)
            root.addHandler(handler)
        self._swapped = []

    def stage_start(self, name: str, index: int, total: int, steps: int) -> None:
        self._stage, self._total, self._done = name, steps, 0
        log.debug("stage %d/%d: %s", index + 1, total, name)
        self._task = self._progress.add_task(name, total=max(steps, 1), info="")

    def step(self, row: dict) -> None:
        self._done += 1
        info = (f"train {_fmt(row['train_rmse'])}  test {_fmt(row['test_rmse'])}  "
                f"grid {row['grid']}")
        self._progress.update(self._task, completed=self._done, info=info)

    def stage_end(self, row: dict) -> None:
        if self._task is not None:
            done = self._total if row["status"] == "completed" else self._done
            info = row["status"] if row["status"] != "completed" else (
                f"train {_fmt(row['train_rmse'])}  test {_fmt(row['test_rmse'])}  "
                f"grid {row['grid']}")
            self._progress.update(self._task, completed=max(done, 1 if not self._total else 0),
                                  info=info)
        super().stage_end(row)

    def finish(self, stage_rows: list[dict], formula, metrics: dict) -> None:
        from rich.table import Table

        if self._progress is not None:
            self._progress.stop()
        table = Table(title="stages", title_justify="left")
        for col in STAGE_TABLE:
            table.add_column(col, justify="left" if col in ("stage", "status", "width")
                             else "right")
        for r in stage_rows:
            table.add_row(*_table_cells(r))
        self.console.print(table)
        _log_result(formula, metrics)


def make_display(quiet: bool, log_every: int):
    """Rich when talking to a terminal and not ``quiet``; plain log lines otherwise."""
    if not quiet and sys.stderr.isatty():
        return RichDisplay(log_every)
    return PlainDisplay(log_every)
