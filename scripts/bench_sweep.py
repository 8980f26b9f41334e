"""Serial vs local-parallel sweep: the same 8 runs with Hydra's basic launcher (one after
the other) and with the joblib preset (+launcher=local, 2 jobs of 1 torch thread each).

    python scripts/bench_sweep.py [--runs 8] [--jobs 2] [--steps 200] [--backend multiprocessing]

Prints both wall times (each including the `kanrun` start-up) and their ratio; the issue
asks for a ratio of at most 0.6 on 2 cores. The machine should be otherwise idle.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kanrun.report import build_report


def sweep(out: Path, runs: int, steps: int, launcher: list[str]) -> tuple[float, float]:
    """Wall seconds of the whole sweep and the median seconds of one run inside it."""
    command = [
        sys.executable, "-m", "kanrun", "train", "-m", "+experiment=smoke", *launcher,
        f"seed={','.join(str(s) for s in range(runs))}", "num_threads=1", "quiet=true",
        "dataset.n_train=1000", "dataset.n_test=1000",
        f"pipeline.stages.train.steps={steps}", f"pipeline.stages.sparsify.steps={steps // 2}",
        f"hydra.sweep.dir={out}",
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    table = build_report([out], out / "report", plots=False).table
    completed = int((table["status"] == "completed").sum())
    if completed != runs:
        raise SystemExit(f"{out}: only {completed} of {runs} runs completed")
    return seconds, float(table["seconds"].median())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200, help="training steps per run")
    parser.add_argument("--backend", default="multiprocessing", choices=["loky", "multiprocessing"],
                        help="joblib backend (multiprocessing forks: no torch import per "
                             "worker, but a killed worker hangs the sweep)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kanrun_bench_sweep_"))
    try:
        serial, serial_run = sweep(root / "serial", args.runs, args.steps, [])
        print(f"serial   (basic launcher):          {serial:7.1f} s for {args.runs} runs "
              f"(median run {serial_run:.1f} s)", flush=True)
        parallel, parallel_run = sweep(root / "parallel", args.runs, args.steps,
                                       ["+launcher=local", f"hydra.launcher.n_jobs={args.jobs}",
                                        f"hydra.launcher.backend={args.backend}"])
        print(f"parallel (+launcher=local, {args.jobs} jobs, {args.backend}): "
              f"{parallel:7.1f} s for {args.runs} runs (median run {parallel_run:.1f} s)")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ratio = parallel / serial
    print(f"ratio parallel / serial: {ratio:.2f} (target <= 0.60: "
          f"{'ok' if ratio <= 0.6 else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
