"""`kanrun figure NAME`: regenerate one of the paper's figures into figures/NAME/.

    kanrun figure --list
    kanrun figure grid_extension --quick          # <= 3 minutes on 2 cores
    kanrun figure scaling --jobs 2 steps=100      # KEY=VALUE overrides the figure's config
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

_SIGNALLED = []  # set once SIGTERM arrived: whatever the interrupt then unwinds into is a stop


def _stop(signum, frame):
    # SIGTERM like Ctrl-C: joblib then stops its worker processes (none is left running);
    # finished jobs stay in OUT/jobs/ and the next run reuses them
    _SIGNALLED.append(signum)
    raise KeyboardInterrupt


def _parser(names) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kanrun figure",
        description="Regenerate a KAN-paper figure (PNG, CSV and a markdown comparison with "
                    "the paper) from its committed config, configs/figure/NAME.yaml.")
    p.add_argument("name", nargs="?", help=f"one of: {', '.join(names)}, or 'all'")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="change a key of the figure's config, e.g. steps=50 seeds=[0,1]")
    p.add_argument("--quick", action="store_true",
                   help="the quick variant (fewer grids, seeds and steps; minutes, not hours)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default figures/NAME, or figures/NAME-quick)")
    p.add_argument("--fresh", action="store_true",
                   help="ignore the results of finished jobs kept from an earlier run")
    p.add_argument("--list", action="store_true", help="list the figures and exit")
    return p


def main(argv: list[str]) -> int:
    from kanrun.figures import FIGURES, FigureError, make_figure

    args = _parser(FIGURES).parse_intermixed_args(argv)
    if args.list or not args.name:
        for name, module in FIGURES.items():
            print(f"{name:16s} {module.ABOUT}")
        return 0 if args.list else 2
    names = list(FIGURES) if args.name == "all" else [args.name]
    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return 2
    if args.out is not None and len(names) > 1:
        print("error: --out names one folder; use it with one figure, not 'all'",
              file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    for name in names:
        start = time.perf_counter()

        def progress(message, name=name, start=start):
            print(f"[{name} {time.perf_counter() - start:7.1f}s] {message}", flush=True)

        try:
            out = make_figure(name, quick=args.quick, overrides=args.overrides,
                              jobs=args.jobs, out=args.out, fresh=args.fresh,
                              progress=progress)
        except FigureError as err:
            if _SIGNALLED:
                return _stopped(name)
            print(f"error: {err}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return _stopped(name)
        except Exception:
            # the interrupt can surface as another error from inside joblib's worker pool
            # (a pool torn down mid-call); after a SIGTERM that is still a stop
            if _SIGNALLED:
                return _stopped(name)
            raise
        print(f"{name}: wrote {out} in {time.perf_counter() - start:.0f} s "
              f"(see {out / 'README.md'})", flush=True)
    return 0


def _stopped(name: str) -> int:
    print(f"{name}: stopped; finished jobs are kept and reused by the next run",
          file=sys.stderr)
    return 130
