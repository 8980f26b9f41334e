"""Run the stages of a prepared config and write the run folder.

Each stage starts from the checkpoint its predecessor wrote (so a resumed run continues
from exactly the state an uninterrupted one would have), and after each stage the loss
and stage tables and the resume state are rewritten atomically. SIGTERM and SIGINT stop
the run between two optimizer steps (a second signal stops it at once); the run then
writes what it has and is marked interrupted.
"""

from __future__ import annotations

import logging
import platform
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from kanrun.kan import load_model

from . import artifacts, describe, plots, pretrain, quality
from .errors import RunInterrupted, StageFailed, StageSkipped
from .formula import Formula, FormulaUnavailable, extract_formula, write_formula
from .record import RunRecord
from .stages import STAGES, StageData, stage_settings
from .validate import Prepared

log = logging.getLogger("kanrun.run")

EXIT_FAILED = 1


@dataclass
class RunOutcome:
    status: str  # completed | failed | interrupted
    exit_code: int
    metrics: dict
    formula: Formula | None = None


class _Signals:
    """Turn SIGTERM/SIGINT into a stop request; a second one interrupts at once."""

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            raise RunInterrupted(signum)
        self.signum = signum
        log.warning("received signal %d: stopping after the current step "
                    "(send it again to stop at once)", signum)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def check(self) -> None:
        if self.signum is not None:
            raise RunInterrupted(self.signum)


def _steps_of(cfg, name: str) -> int:
    settings = stage_settings(cfg, name)
    steps = int(getattr(settings, "steps", 0))
    return steps * len(cfg.pipeline.stages.grid_extend.grids) if name == "grid_extend" else steps


def _loss_fn(bundle):
    if bundle.task == "classification":
        return torch.nn.functional.cross_entropy
    return None


def versions() -> dict:
    import hydra
    import numpy
    import omegaconf
    import sympy

    import kanrun

    return {"kanrun": kanrun.__version__, "torch": torch.__version__,
            "numpy": numpy.__version__, "sympy": sympy.__version__,
            "hydra": hydra.__version__, "omegaconf": omegaconf.__version__,
            "python": platform.python_version()}


class Runner:
    def __init__(self, prepared: Prepared, record: RunRecord, display):
        self.cfg = prepared.cfg
        self.bundle = prepared.bundle
        self.record = record
        self.display = display
        self.loss_fn = _loss_fn(self.bundle)
        self.signals = _Signals()
        self.start = time.perf_counter() - record.elapsed
        self._stage = ""  # the stage running now (for messages)
        self._began = 0.0  # when it started, on self.clock()
        self._stop_signum: int | None = None
        self._plot_noted = False
        checkpoint = record.last_checkpoint()
        self.model = prepared.model if checkpoint is None else load_model(
            checkpoint, device=prepared.model.device)
        self.data = {k: v.to(self.model.device) for k, v in self.bundle.data.items()}

    def clock(self) -> float:
        return time.perf_counter() - self.start

    def _on_step(self, row: dict) -> None:
        full = {"stage": self._stage, "step": len(self.record.loss_rows), **row,
                "seconds": round(self.clock(), 3)}
        self.record.loss_rows.append(full)
        self.display.step(full)
        self.signals.check()

    def _row(self, name: str, model, status: str, seconds: float) -> dict:
        return {"stage": name, **describe.summary(model, self.data, self.loss_fn),
                "seconds": round(seconds, 3), "status": status}

    def run(self) -> RunOutcome:
        order = list(self.cfg.pipeline.order)
        done = self.record.done_names()
        if done:
            log.info("resuming after stage %s (%s done)", done[-1], ", ".join(done))
        status, error, formula = "completed", None, None
        with self.signals, self.display:
            try:
                for index, name in enumerate(order):
                    if name in done:
                        continue
                    self.signals.check()
                    self._run_stage(index, name, len(order))
                self._stage = "formula"
                formula = self._formula()
            except RunInterrupted as stop:
                self._stop_signum = stop.signum
                status, error = "interrupted", f"interrupted by signal {stop.signum}"
                log.warning("run interrupted during stage %s; resume it with: kanrun resume %s",
                            self._stage, self.record.run_dir)
            except StageFailed as failed:
                status, error = "failed", f"stage {self._stage}: {failed}"
                log.error("stage %s stopped: %s", self._stage, failed)
                self._keep_failed(failed)
            except Exception as err:
                status, error = "failed", f"stage {self._stage} crashed: {err!r}"
                self._finish(status, error, None)
                raise
            return self._finish(status, error, formula)

    def _run_stage(self, index: int, name: str, total: int) -> None:
        self._stage = name
        self.display.stage_start(name, index, total, _steps_of(self.cfg, name))
        data = StageData(self.data, seed=int(self.cfg.seed) + index, on_step=self._on_step,
                         loss_fn=self.loss_fn)
        self._began = self.clock()
        ahead = pretrain.take(self.cfg, name)  # fitted with the sweep's other seeds
        try:
            if ahead is not None:
                model, rows = ahead
                for row in rows:
                    self._on_step(row)
            else:
                model, _ = STAGES[name](self.model, data, stage_settings(self.cfg, name))
        except StageSkipped as skip:
            self.display.note(str(skip), logging.WARNING)
            row = self._row(name, self.model, "skipped", self.clock() - self._began)
            self.display.stage_end(row)
            self.record.mark_done(row, None, self.clock())
            return
        path = self.record.checkpoints / f"{name}.pt"
        model.save(path)
        self.model = load_model(path, device=model.device)
        row = self._row(name, self.model, "completed", self.clock() - self._began)
        self.display.stage_end(row)
        done = [r for r in self.record.stage_rows if r.get("status") == "completed"]
        worse = quality.worsening(done[-1] if done else None, row,
                                  self.cfg.pipeline.worse_factor)
        if worse is not None:
            metric = ("test sqrt(cross-entropy)" if self.bundle.task == "classification"
                      else "test RMSE")
            self.display.note(quality.worse_message(worse, metric), logging.WARNING)
        if row["n_edges"] == 0:
            self.display.note(f"after {name} the network has no edges left: lower "
                              f"pipeline.stages.sparsify.lamb or pipeline.stages.prune.edge_th",
                              logging.WARNING)
        self.record.mark_done(row, f"checkpoints/{name}.pt", self.clock())
        if self.cfg.pipeline.plots:
            self._network_plot(name)

    def _network_plot(self, name: str) -> None:
        try:
            plots.write_network_plot(
                self.record.plots / f"network_{name}.png", self.model,
                self.data["train_input"], self.bundle.input_names, self.bundle.output_names)
            return
        except Exception as err:  # an optional figure never stops the run
            reason = f"network plot after {name} failed: {err!r}"
        if not self._plot_noted:
            self.display.note(reason, logging.WARNING)
            self._plot_noted = True

    def _keep_failed(self, failed: StageFailed) -> None:
        if failed.model is None:
            return
        self.model = failed.model
        self.model.save(self.record.checkpoints / "last_good.pt")
        seconds = self.clock() - self._began
        self.record.stage_rows.append(self._row(self._stage, self.model, "failed", seconds))

    def _keep_stage(self, keep: str, last_stage: str | None, rows: list[dict]) -> None:
        """End the run with stage ``keep``'s model (pipeline.keep_best)."""
        errors = {r["stage"]: r.get("test_rmse") for r in rows}
        self.model = load_model(self.record.checkpoints / f"{keep}.pt", device=self.model.device)
        lost = [w["stage"] for w in quality.unrecovered(rows, self.cfg.pipeline.worse_factor)]
        why = (f"the losses of {', '.join(lost)} were not recovered" if lost
               else "it beats the last stage")
        self.display.note(
            f"keeping the model of stage {keep} (test RMSE {errors[keep]:.3e}) instead of "
            f"{last_stage}'s ({errors[last_stage]:.3e}): {why}; the formula files are "
            f"{last_stage}'s (pipeline.keep_best=last keeps the last model)", logging.WARNING)

    def _formula(self) -> Formula | None:
        try:
            formula = extract_formula(
                self.model, self.bundle, self.cfg.pipeline.formula_digits,
                self.cfg.pipeline.recovery_seconds, network_rmse=self._network_rmse(),
                search=self.cfg.pipeline.formula_search,
                search_seconds=self.cfg.pipeline.stages.auto_symbolic.seconds,
                templates=self.cfg.pipeline.formula_templates)
        except FormulaUnavailable as why:
            self.display.note(str(why), logging.WARNING)
            return None
        for note in formula.notes:
            self.display.note(note, logging.WARNING)
        write_formula(self.record.run_dir, formula)
        return formula

    def _network_rmse(self) -> float | None:
        """The best test RMSE of a stage that still had splines (what a formula must match)."""
        values = [r.get("test_rmse") for r in self.record.stage_rows
                  if r.get("stage") not in ("auto_symbolic", "fit_symbolic")
                  and r.get("status") == "completed"]
        values = [float(v) for v in values if v is not None and v == v]
        return min(values) if values else None

    def _finish(self, status: str, error: str | None, formula) -> RunOutcome:
        record = self.record
        record.write_tables()
        if self.cfg.pipeline.plots and record.loss_rows:
            plots.write_run_plots(record.plots, record.loss_rows, record.stage_rows,
                                  self.bundle.task)
        rows, factor = record.stage_rows, self.cfg.pipeline.worse_factor
        last_stage = next((r["stage"] for r in reversed(rows) if r.get("status") == "completed"),
                          None)
        keep = quality.stage_to_keep(rows, self.cfg.pipeline.keep_best, factor) \
            if status == "completed" else None
        if keep is not None:
            self._keep_stage(keep, last_stage, rows)
        final = describe.summary(self.model, self.data, self.loss_fn)
        best = quality.best_stage(rows)
        metrics = {
            "status": status,
            "error": error,
            "train_rmse": final["train_rmse"],
            "test_rmse": final["test_rmse"],
            "formula_test_rmse": formula.test_rmse if formula is not None else None,
            "recovered": formula.recovered if formula is not None else None,
            "formula_status": formula.status if formula is not None else None,
            "network_test_rmse": formula.network_rmse if formula is not None else None,
            "n_params": final["n_params"],
            "n_edges": final["n_edges"],
            "width": final["width"],
            "grid": final["grid"],
            "seconds": round(self.clock(), 3),
            "stages_done": record.done_names(),
            "best_stage": {"stage": best[0], "test_rmse": best[1]} if best else None,
            "kept_stage": keep or last_stage,
            "worsened": quality.worsenings(rows, factor),
            "unrecovered": [w["stage"] for w in quality.unrecovered(rows, factor)],
            "dataset": self.bundle.description,
            "versions": versions(),
        }
        if self.bundle.task == "classification":
            metrics["train_accuracy"] = describe.accuracy(
                self.model, self.data["train_input"], self.data["train_label"])
            metrics["test_accuracy"] = describe.accuracy(
                self.model, self.data["test_input"], self.data["test_label"])
            metrics["formula_test_accuracy"] = formula.test_accuracy if formula else None
        artifacts.write_json(record.run_dir / "metrics.json", metrics)
        self.display.finish(record.stage_rows, formula, metrics)
        metric = ("sqrt(cross-entropy)" if self.bundle.task == "classification" else "RMSE")
        best_text = (f"best stage {best[0]} (test {metric} {best[1]:.3e}); " if best else "")
        if metrics.get("formula_status") == "approximate":
            best_text += "formula approximate: the network remains the result; "
        log.info("%srun folder: %s", best_text, record.run_dir)
        code = 0 if status == "completed" else EXIT_FAILED
        if status == "interrupted":
            code = 128 + int(self._stop_signum or signal.SIGINT)
        return RunOutcome(status=status, exit_code=code, metrics=metrics, formula=formula)


def run_pipeline(prepared: Prepared, run_dir: Path, display, resume: bool = False) -> RunOutcome:
    """Run ``prepared`` into ``run_dir`` (continuing its completed stages with ``resume``)."""
    if prepared.model is None:  # no shape given: discovery
        from .discovery import run_discovery

        return run_discovery(prepared, Path(run_dir), display, resume=resume)
    record = RunRecord.load(run_dir) if resume else RunRecord(run_dir=Path(run_dir))
    return Runner(prepared, record, display).run()
