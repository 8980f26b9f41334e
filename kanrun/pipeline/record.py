"""A run's record on disk: loss rows, stage rows, and the resume state.

``state.json`` lists the stages that are done (completed or skipped), each with the
number of loss rows written up to its end, its checkpoint, and the run's elapsed time.
A resumed run keeps exactly those rows and starts after the last stage listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from . import artifacts
from .errors import RunConfigError

STATE_VERSION = 1


@dataclass
class RunRecord:
    run_dir: Path
    loss_rows: list[dict] = field(default_factory=list)
    stage_rows: list[dict] = field(default_factory=list)  # stages.csv, incl. skipped/failed
    done: list[dict] = field(default_factory=list)  # state.json entries
    elapsed: float = 0.0  # seconds spent before this process (resume)

    @property
    def checkpoints(self) -> Path:
        return self.run_dir / "checkpoints"

    @property
    def plots(self) -> Path:
        return self.run_dir / "plots"

    def done_names(self) -> list[str]:
        return [entry["stage"] for entry in self.done]

    def last_checkpoint(self) -> Path | None:
        for entry in reversed(self.done):
            if entry.get("checkpoint"):
                return self.run_dir / entry["checkpoint"]
        return None

    def mark_done(self, stage_row: dict, checkpoint: str | None, elapsed: float) -> None:
        self.stage_rows.append(stage_row)
        self.done.append({"stage": stage_row["stage"], "status": stage_row["status"],
                          "checkpoint": checkpoint, "n_loss_rows": len(self.loss_rows),
                          "elapsed": elapsed, "row": stage_row})
        self.write_tables()
        artifacts.write_json(self.run_dir / "state.json",
                             {"version": STATE_VERSION, "done": self.done})

    def write_tables(self) -> None:
        artifacts.write_csv(self.run_dir / "losses.csv", artifacts.LOSS_COLUMNS, self.loss_rows)
        artifacts.write_csv(self.run_dir / "stages.csv", artifacts.STAGE_COLUMNS, self.stage_rows)

    @classmethod
    def load(cls, run_dir: Path) -> RunRecord:
        """The record of an interrupted run: only what its completed stages wrote."""
        run_dir = Path(run_dir)
        record = cls(run_dir=run_dir)
        state_path = run_dir / "state.json"
        if not state_path.is_file():
            return record  # stopped before its first stage ended: start over
        try:
            state = artifacts.read_json(state_path)
        except (OSError, ValueError) as err:
            raise RunConfigError(_corrupt(state_path, err)) from None
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            version = state.get("version") if isinstance(state, dict) else None
            raise RunConfigError(f"{state_path} has state version {version}; this "
                                 f"kanrun resumes version {STATE_VERSION} only")
        try:
            record.done = list(state["done"])
            record.stage_rows = [dict(entry["row"]) for entry in record.done]
            if record.done:
                last_elapsed = float(record.done[-1]["elapsed"])
                int(record.done[-1]["n_loss_rows"])
        except (KeyError, TypeError, ValueError) as err:
            raise RunConfigError(_corrupt(state_path, f"missing or malformed {err}")) from None
        if record.done:
            last = record.done[-1]
            record.elapsed = last_elapsed
            losses = run_dir / "losses.csv"
            rows = artifacts.read_loss_rows(losses) if losses.is_file() else []
            if len(rows) < last["n_loss_rows"]:
                raise RunConfigError(f"{losses} has {len(rows)} rows but the completed stages "
                                     f"wrote {last['n_loss_rows']}; the run cannot be resumed")
            record.loss_rows = rows[: last["n_loss_rows"]]
        return record


def _corrupt(path: Path, why) -> str:
    return (f"{path} is damaged ({why}); the run cannot be resumed. Start it again with "
            f"kanrun train (or delete {path.name} to redo every stage)")
