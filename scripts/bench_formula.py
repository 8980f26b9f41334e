"""Benchmark the step from a fitted KAN to its formula on every 5th Feynman equation.

Each equation runs as a user would run it:

    kanrun train +experiment=feynman dataset.equation=NAME model.width=[n,5,1]

and the run's formula (formula.json) is compared with the truth on fresh points drawn
from the equation's ranges: relative RMS error sqrt(mean((f - t)^2) / mean(t^2)).

    python scripts/bench_formula.py --out /tmp/bench [--every 5] [--only 1,6,11] [--jobs 1]
    python scripts/bench_formula.py --out /tmp/bench --collect   (score finished runs only)

Measured on main at fbb7f98 (third session, 2 cores, --jobs 2 --timeout 600): 17 of 24
exact, each whole run 16-112 s (356 s for the 24). With the data-fitted product templates
off (``pipeline.formula_templates=false``: the network's edges and the monomial of its
inputs only) 8 of 24: the other 9 exact forms come from those templates.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

TABLE = Path(__file__).resolve().parents[1] / "kanrun" / "data" / "feynman_equations.csv"


def equations(every: int, only=None) -> list[dict]:
    with open(TABLE, newline="") as fh:
        rows = list(csv.DictReader(fh))
    picked = [r for r in rows if (int(r["id"]) - 1) % every == 0]
    if only:
        picked = [r for r in picked if int(r["id"]) in only]
    return picked


def relative_error(expr_text: str, truth: str, names: list[str], ranges, seed: int = 12345):
    import sympy

    from kanrun.data.parse import parse_formula

    rng = np.random.default_rng(seed)
    X = np.stack([rng.uniform(lo, hi, 5000) for lo, hi in ranges], 1)
    symbols = [sympy.Symbol(n, real=True) for n in names]
    f_truth = sympy.lambdify(symbols, parse_formula(truth, names), "numpy")
    f_found = sympy.lambdify(symbols, parse_formula(expr_text, names), "numpy")
    with np.errstate(all="ignore"):
        t = np.broadcast_to(np.asarray(f_truth(*X.T), dtype=np.complex128), (len(X),)).real
        f = np.broadcast_to(np.asarray(f_found(*X.T), dtype=np.complex128), (len(X),))
    if np.any(np.abs(f.imag) > 1e-12 * (1 + np.abs(f.real))):
        return math.inf
    err = np.sqrt(np.mean((f.real - t) ** 2) / np.mean(t**2))
    return float(err) if np.isfinite(err) else math.inf


def run_one(row: dict, out: Path, timeout: int, extra: list[str], collect: bool = False) -> dict:
    n = int(row["n_vars"])
    run_dir = out / f"eq{int(row['id']):03d}"
    cmd = [str(Path(sys.executable).with_name("kanrun")), "train", "+experiment=feynman",
           f"dataset.equation={row['name']}", f"model.width=[{n},5,1]", "quiet=true",
           f"hydra.run.dir={run_dir}", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.time()
    if collect:  # only read what an earlier (maybe unfinished) benchmark left
        rc = "collected" if (run_dir / "metrics.json").exists() else "missing"
    else:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
    seconds = time.time() - t0
    result = {"id": int(row["id"]), "name": row["name"], "n_vars": n, "rc": rc,
              "seconds": round(seconds, 1), "expr": None, "rel_error": None,
              "recovered": None, "formula_status": None}
    try:
        blob = json.loads((run_dir / "formula.json").read_text())
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return result
    expr = blob["outputs"][0]["expr"]
    result.update(expr=expr, recovered=blob.get("recovered"),
                  formula_status=metrics.get("formula_status"),
                  network_test_rmse=metrics.get("network_test_rmse"),
                  formula_test_rmse=metrics.get("formula_test_rmse"))
    names = row["variables"].split()
    ranges = json.loads(row["ranges"])
    try:
        result["rel_error"] = relative_error(expr, row["expr"], names, ranges)
    except Exception as err:  # a formula the parser rejects counts as not found
        result["rel_error"] = math.inf
        result["error"] = repr(err)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="outputs/bench_formula")
    p.add_argument("--every", type=int, default=5)
    p.add_argument("--only", default="", help="comma-separated equation ids")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--timeout", type=int, default=300)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--collect", action="store_true",
                   help="do not run: evaluate the run folders already under --out")
    p.add_argument("overrides", nargs="*", help="extra kanrun train overrides")
    args = p.parse_args(argv)
    only = {int(v) for v in args.only.split(",") if v}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = equations(args.every, only)
    t0 = time.time()
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(
            lambda r: run_one(r, out, args.timeout, args.overrides, args.collect), rows))
    exact = 0
    for r in results:
        ok = r["rel_error"] is not None and r["rel_error"] <= args.tol
        exact += ok
        err = "-" if r["rel_error"] is None else f"{r['rel_error']:.2e}"
        print(f"{r['id']:4d} {r['name']:10s} n={r['n_vars']} {r['seconds']:6.1f}s "
              f"rel={err:>9s} {'EXACT' if ok else '     '} rec={r['recovered']} "
              f"status={r['formula_status']} {r['expr']}")
    print(f"{exact} of {len(results)} with relative error <= {args.tol:g} "
          f"({time.time() - t0:.0f} s)")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
