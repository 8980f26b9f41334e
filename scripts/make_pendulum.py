"""Write the pendulum CSV of the formula checks: T = 2 pi sqrt(L / g) with 1 % noise.

    python scripts/make_pendulum.py OUT.csv [--rows 1000] [--noise 0.01] [--seed 0]
    kanrun train dataset=csv dataset.path=OUT.csv model.width=[2,5,1]   # the network path
    kanrun train dataset=csv dataset.path=OUT.csv                       # discovery

Columns L (length, 0.2-2 m), g (gravity, 1.6-25 m/s^2, the Moon to Jupiter) and T, the
period with Gaussian noise of ``noise`` times its RMS (SRBench's convention). The last
column is the target, as ``dataset=csv`` reads it by default.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--noise", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    L = rng.uniform(0.2, 2.0, args.rows)
    g = rng.uniform(1.6, 25.0, args.rows)
    T = 2 * math.pi * np.sqrt(L / g)
    T = T + args.noise * float(np.sqrt(np.mean(T * T))) * rng.standard_normal(args.rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["L", "g", "T"])
        writer.writerows(zip(L.round(7), g.round(7), T.round(7), strict=True))
    print(f"wrote {args.rows} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
