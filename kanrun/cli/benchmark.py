"""`kanrun benchmark feynman|formulas`: a benchmark through discovery, one run each.

    kanrun benchmark feynman --jobs 2                       # all 120, noiseless
    kanrun benchmark feynman --every 5                      # every 5th equation (24)
    kanrun benchmark feynman --equations I.12.4 II.34.2 --noise 0 0.01
    kanrun benchmark feynman --launcher slurm               # one array task per run
    kanrun benchmark formulas --jobs 2                      # our 34 formulas of 1-3 variables

Feynman: each (equation, noise) is one `kanrun train +experiment=feynman` run with no
width (so discovery) in OUT/runs/eqID_noiseN/, all of them one Hydra sweep. Formulas (the
set in kanrun/data/benchmark_formulas.csv, of the kind symbolic-regression papers use):
each is one `kanrun train dataset=formula` run with no width in OUT/runs/fID_noiseN/.
Runs already completed there are reused. The table (OUT/recovery.md, OUT/recovery.csv)
has, per run, exact by the SRBench rule (kanrun.data.recovery), strict (max error <= 1e-6
of the rms truth on fresh points), the formula, its complexity and seconds; totals per
noise level; for Feynman, published rates beside ours.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

LAUNCHERS = ("local", "submitit_local", "slurm")
SUITES = ("feynman", "formulas")
FORMULAS_FILE = "benchmark_formulas.csv"  # in kanrun/data
COLUMNS = ("id", "equation", "n_vars", "noise", "exact", "strict", "strict_rel_error",
           "complexity", "seconds", "cpu_seconds", "status", "formula")
# SRBench 2021 (La Cava et al.), Feynman problems, exact ("symbolic solution") rate
PUBLISHED = (
    ("AI Feynman", "55.8 %", "~13 %"),
    ("AFP_FE", "27.0 %", "~21 %"),
    ("GP-GOMEA", "26.8 %", "~5 %"),
    ("ITEA", "22.4 %", "~8 %"),
    ("DSR", "19.7 %", "~19 %"),
    ("Operon", "16.6 %", "~2 %"),
    ("gplearn", "16.3 %", "~16 %"),
    ("unit-free SRBench entry, 2025 (60 s per fit)", "64.7 %", "44.0 %"),
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kanrun benchmark",
        description="Run a symbolic-regression benchmark through discovery (no width given) "
                    "and write its recovery table.")
    p.add_argument("suite", choices=SUITES,
                   help="the benchmark (feynman: 120 equations; formulas: our 34 of 1-3 "
                        "variables)")
    p.add_argument("--equations", nargs="+", default=None, metavar="NAME",
                   help="equation (formula) names or ids (default: all)")
    p.add_argument("--every", type=int, default=1,
                   help="only every k-th equation of the table (e.g. 5: 24 equations)")
    p.add_argument("--noise", nargs="+", type=float, default=[0.0],
                   help="noise levels (std as a fraction of the labels' RMS, as in SRBench)")
    p.add_argument("--jobs", type=int, default=1, help="runs at once (local launcher)")
    p.add_argument("--launcher", choices=LAUNCHERS, default="local",
                   help="local (joblib), submitit_local, or slurm (feynman only)")
    p.add_argument("--budget", type=float, default=60.0,
                   help="CPU seconds per run (default 60)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default outputs/benchmark/SUITE)")
    p.add_argument("--fresh", action="store_true", help="rerun runs already completed")
    p.add_argument("--table-only", action="store_true",
                   help="write the table from the runs already in OUT; run nothing")
    return p


@dataclass(frozen=True)
class Item:
    """One benchmark problem: a Feynman equation or a formula of our set."""

    id: int
    name: str
    n_vars: int
    expr: str = ""
    ranges: tuple = ()  # formulas: ((name, low, high), ...)


def load_formulas() -> list[Item]:
    """The formula set (kanrun/data/benchmark_formulas.csv): id, name, expr, ranges as
    'x:-1:1 y:0:2'."""
    text = resources.files("kanrun.data").joinpath(FORMULAS_FILE).read_text()
    items = []
    for row in csv.DictReader(text.splitlines()):
        ranges = tuple((name, float(lo), float(hi)) for name, lo, hi in
                       (part.split(":") for part in row["ranges"].split()))
        items.append(Item(int(row["id"]), row["name"], len(ranges), row["expr"], ranges))
    return items


def _all_items(suite: str) -> list[Item]:
    if suite == "formulas":
        return load_formulas()
    from kanrun.data import FEYNMAN

    return [Item(eq.id, eq.name, eq.n_vars) for eq in FEYNMAN]


def _selected(args) -> list[Item]:
    items = _all_items(args.suite)
    if args.equations:
        if args.suite == "feynman":
            from kanrun.data import DatasetError, get_feynman

            try:
                ids = [get_feynman(name).id for name in args.equations]
            except DatasetError as err:
                raise SystemExit(f"error: {err}") from None
        else:
            by_key = {k: it.id for it in items for k in (it.name, str(it.id))}
            unknown = [n for n in args.equations if n not in by_key]
            if unknown:
                raise SystemExit(f"error: unknown formula(s) {', '.join(unknown)}; the set: "
                                 + ", ".join(it.name for it in items))
            ids = [by_key[n] for n in args.equations]
        chosen = [next(it for it in items if it.id == i) for i in ids]
    else:
        chosen = items
    if args.every < 1:
        raise SystemExit("error: --every must be at least 1")
    return chosen[::args.every]


def _run_dir(out: Path, eq_id: int, noise: float, suite: str = "feynman") -> Path:
    prefix = "eq" if suite == "feynman" else "f"
    return out / "runs" / f"{prefix}{eq_id}_noise{float(noise)}"  # as Hydra writes the noise


def _done(run_dir: Path) -> bool:
    path = run_dir / "metrics.json"
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text()).get("status") == "completed"
    except (OSError, ValueError):
        return False


def _sweep(args, ids: list[int], noise: float) -> int:
    """One Hydra multirun over equations ``ids`` at one noise level; its exit code."""
    cmd = [sys.executable, "-m", "kanrun", "train", "-m", "+experiment=feynman",
           "model.width=null", f"dataset.equation={','.join(map(str, ids))}",
           f"dataset.noise={noise:g}",
           f"pipeline.discover.budget={args.budget:g}", "pipeline.plots=false", "quiet=true",
           f"+launcher={args.launcher}",
           f"hydra.sweep.dir={args.out.resolve() / 'runs'}",
           "hydra.sweep.subdir=eq${dataset.equation}_noise${dataset.noise}"]
    if args.launcher == "local":
        cmd.append(f"hydra.launcher.n_jobs={args.jobs}")
    print(f"running {len(ids)} discovery run(s) at noise {noise:g} with {args.launcher} "
          f"({args.jobs} at once, {args.budget:g} s budget each)", flush=True)
    return subprocess.call(cmd)


def _formula_command(args, item: Item, noise: float) -> list[str]:
    ranges = ",".join(f"{n}:[{lo:g},{hi:g}]" for n, lo, hi in item.ranges)
    return [sys.executable, "-m", "kanrun", "train", "dataset=formula",
            f"dataset.expr='{item.expr}'", f"dataset.ranges={{{ranges}}}",
            f"dataset.noise={noise:g}", "model.width=null", "model.hidden=null",
            f"pipeline.discover.budget={args.budget:g}", "pipeline.plots=false", "quiet=true",
            f"hydra.run.dir={_run_dir(args.out.resolve(), item.id, noise, 'formulas')}"]


def _sweep_formulas(args, pending: list[tuple[Item, float]]) -> int:
    """One `kanrun train dataset=formula` process per pending (formula, noise), --jobs at
    once; returns 0, or 1 when some run failed."""
    print(f"running {len(pending)} discovery run(s) ({args.jobs} at once, "
          f"{args.budget:g} s budget each)", flush=True)

    def one(pair):
        item, noise = pair
        done = subprocess.run(_formula_command(args, item, noise), capture_output=True,
                              text=True)
        if done.returncode != 0:
            print(f"{item.name} (noise {noise:g}) failed (exit {done.returncode}): "
                  f"{done.stderr.strip()[-300:]}", file=sys.stderr)
        return done.returncode

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        codes = list(pool.map(one, pending))
    return 0 if all(c == 0 for c in codes) else 1


def _row(eq, noise: float, run_dir: Path) -> dict:
    row = {"id": eq.id, "equation": eq.name, "n_vars": eq.n_vars, "noise": noise,
           "exact": None, "strict": None, "strict_rel_error": None, "complexity": None,
           "seconds": None, "cpu_seconds": None, "status": "missing", "formula": ""}
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return row
    row.update(status=metrics.get("status"), exact=metrics.get("recovered"),
               strict=metrics.get("strict_recovered"),
               strict_rel_error=metrics.get("strict_rel_error"),
               complexity=metrics.get("complexity"), seconds=metrics.get("seconds"),
               cpu_seconds=metrics.get("cpu_seconds"))
    try:
        outputs = json.loads((run_dir / "formula.json").read_text())["outputs"]
        row["formula"] = "; ".join(o["expr"] for o in outputs)
    except (OSError, ValueError, KeyError):
        pass
    return row


def _mark(flag) -> str:
    return "yes" if flag else ("no" if flag is not None else "-")


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def write_table(rows: list[dict], out: Path, suite: str = "feynman") -> str:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "recovery.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    title = ("Feynman equations" if suite == "feynman"
             else "Formulas of 1-3 variables (kanrun/data/benchmark_formulas.csv)")
    lines = [f"# {title} through discovery (no width given)", "",
             "| noise | equations | exact (SRBench rule) | strict (rel. error <= 1e-6) "
             "| median seconds | median CPU seconds |", "|---|---|---|---|---|---|"]
    for noise in sorted({r["noise"] for r in rows}):
        part = [r for r in rows if r["noise"] == noise]
        n = len(part)
        exact = sum(1 for r in part if r["exact"])
        strict = sum(1 for r in part if r["strict"])
        medians = []
        for key in ("seconds", "cpu_seconds"):
            secs = [r[key] for r in part if r[key] is not None]
            medians.append(_fmt(statistics.median(secs) if secs else None, ".1f"))
        lines.append(f"| {noise:g} | {n} | {exact} ({100 * exact / n:.1f} %) | "
                     f"{strict} ({100 * strict / n:.1f} %) | {medians[0]} | {medians[1]} |")
    if suite == "feynman":
        lines += ["", "Published exact-recovery rates on the Feynman problems (SRBench 2021, "
                  "up to ~8 h per fit; the 2025 entry: 60 s per fit):", "",
                  "| system | noiseless | noise 0.01 |", "|---|---|---|"]
        lines += [f"| {name} | {a} | {b} |" for name, a, b in PUBLISHED]
    kind = "equation" if suite == "feynman" else "name"
    lines += ["", f"| id | {kind} | noise | exact | strict | rel. error | complexity | "
              "seconds | CPU s | formula |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        formula = r["formula"].replace("|", "\\|")
        lines.append(f"| {r['id']} | {r['equation']} | {r['noise']:g} | {_mark(r['exact'])} | "
                     f"{_mark(r['strict'])} | {_fmt(r['strict_rel_error'], '.1e')} | "
                     f"{_fmt(r['complexity'], 'd')} | {_fmt(r['seconds'], '.1f')} | "
                     f"{_fmt(r['cpu_seconds'], '.1f')} | `{formula}` |")
    text = "\n".join(lines) + "\n"
    (out / "recovery.md").write_text(text)
    return text


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return 2
    if not args.budget > 0:
        print("error: --budget must be a positive number of seconds", file=sys.stderr)
        return 2
    if args.suite == "formulas" and args.launcher != "local":
        print("error: the formulas benchmark runs with --launcher local only", file=sys.stderr)
        return 2
    if args.out is None:
        args.out = Path("outputs/benchmark") / args.suite
    try:
        items = _selected(args)
    except SystemExit as stop:
        print(stop, file=sys.stderr)
        return 2
    pairs = [(item, noise) for noise in args.noise for item in items]
    if not args.table_only:
        pending = [(item, noise) for item, noise in pairs
                   if args.fresh or not _done(_run_dir(args.out, item.id, noise, args.suite))]
        if pending and args.suite == "formulas":
            _sweep_formulas(args, pending)
        elif pending:
            for noise in args.noise:  # one sweep per noise level: a Hydra sweep is a
                # product, so one over all pending pairs would rerun completed ones
                ids = [item.id for item, n in pending if n == noise]
                code = _sweep(args, ids, noise) if ids else 0
                if code not in (0, 1):
                    print(f"the sweep stopped (exit {code}); completed runs are kept in "
                          f"{args.out / 'runs'}", file=sys.stderr)
                    return code
    rows = [_row(item, noise, _run_dir(args.out, item.id, noise, args.suite))
            for item, noise in pairs]
    text = write_table(rows, args.out, args.suite)
    print(text.split("\n\n| id |")[0])
    print(f"wrote {args.out / 'recovery.md'} and {args.out / 'recovery.csv'}")
    return 0
