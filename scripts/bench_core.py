"""Core speed and memory, kanrun vs pykan 0.2.8, measured side by side in one run.

    python scripts/bench_core.py            # all three benchmarks
    python scripts/bench_core.py paper ml   # a subset: paper, ml, refine

1. paper:  fit of [2,5,1], G=5, 1000 samples, 20 LBFGS steps (grid updates on).
2. ml:     one Adam step of [64,256,64], G=5, k=3, batch 1024; plus an MLP with the same
           parameter count and the bare GEMMs of the same shapes (the lower bound);
           peak memory of the training steps, each in a fresh process.
3. refine: grid extension 5 -> 10 -> 20 -> 50 of a trained [2,5,1] model.

Runs alternate between the implementations (one thread each) and the medians are
compared, so a noisy shared machine affects both sides alike. Needs the ``bench`` extra.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch

torch.set_num_threads(1)
SCRIPT_DIR = os.path.dirname(os.path.abspath(__file__))


def hellokan(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


def _pykan():
    try:
        import kan  # noqa: F401
    except ImportError:
        sys.exit("pykan is not installed: run `make bench` (installs the bench extra)")
    from kan import KAN as PyKAN

    return PyKAN


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_paper(reps: int = 3) -> None:
    import kanrun

    PyKAN = _pykan()
    data = kanrun.create_dataset(hellokan, n_var=2, train_num=1000, test_num=1000, seed=0)

    def ours(seed):
        model = kanrun.KAN(width=[2, 5, 1], grid=5, k=3, seed=seed)
        return model.fit(data, opt="LBFGS", steps=20)["test_loss"][-1]

    def theirs(seed):
        model = PyKAN(width=[2, 5, 1], grid=5, k=3, seed=seed, auto_save=False)
        return float(model.fit(data, opt="LBFGS", steps=20, log=10**9)["test_loss"][-1])

    ours(100)  # warm-up (imports, first calls)
    rows = []
    for rep in range(reps):
        t_p, r_p = _timed(lambda rep=rep: theirs(rep))
        t_o, r_o = _timed(lambda rep=rep: ours(rep))
        rows.append((t_p, t_o, r_p, r_o))
        print(f"  rep {rep}: pykan {t_p:6.2f} s (test rmse {r_p:.2e}) | "
              f"kanrun {t_o:6.2f} s (test rmse {r_o:.2e})", flush=True)
    ratio = statistics.median(p / o for p, o, _, _ in rows)
    print(f"paper-scale fit: kanrun {ratio:.1f}x faster than pykan (median of per-rep ratios); "
          f"median test rmse kanrun {statistics.median(r[3] for r in rows):.2e}, "
          f"pykan {statistics.median(r[2] for r in rows):.2e}")


ML_WIDTH, ML_GRID, ML_K, ML_BATCH = [64, 256, 64], 5, 3, 1024


def _ml_model(kind: str):
    torch.manual_seed(0)
    if kind == "kanrun":
        import kanrun

        return kanrun.KAN(width=list(ML_WIDTH), grid=ML_GRID, k=ML_K, seed=0)
    if kind == "pykan":
        model = _pykan()(width=list(ML_WIDTH), grid=ML_GRID, k=ML_K, seed=0, auto_save=False)
        model.speed()
        return model
    n_kan = sum(a * b for a, b in zip(ML_WIDTH, ML_WIDTH[1:])) * (ML_GRID + ML_K + 2)
    hidden = n_kan // (ML_WIDTH[0] + ML_WIDTH[-1] + 1)
    return torch.nn.Sequential(torch.nn.Linear(ML_WIDTH[0], hidden), torch.nn.SiLU(),
                               torch.nn.Linear(hidden, ML_WIDTH[-1]))


def _ml_step(kind: str):
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(ML_BATCH, ML_WIDTH[0], generator=gen) * 2 - 1
    y = torch.rand(ML_BATCH, ML_WIDTH[-1], generator=gen)
    if kind == "gemm":  # the GEMMs of a KAN step: forward, and the two of backward per layer
        mats = []
        for a, b in zip(ML_WIDTH, ML_WIDTH[1:]):
            feat = a * (ML_GRID + ML_K)
            mats.append((torch.rand(b, feat), torch.rand(feat, ML_BATCH), torch.rand(b, ML_BATCH)))

        def step():
            for w, basis, grad in mats:
                w @ basis
                grad @ basis.t()
                w.t() @ grad
        return step
    model = _ml_model(kind)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        torch.nn.functional.mse_loss(out, y).backward()
        opt.step()
    return step


def _median_time(step, budget_s: float = 3.0, max_reps: int = 15) -> float:
    first, _ = _timed(step)
    reps = max(2, min(max_reps, int(budget_s / max(first, 1e-6))))
    return statistics.median(_timed(step)[0] for _ in range(reps))


def _peak_memory_mb(kind: str) -> float:
    code = (
        "import json,sys,torch; sys.path.insert(0,%r); torch.set_num_threads(1);"
        "import bench_core as b; s=b._ml_step(%r); s();"
        "open('/proc/self/clear_refs','w').write('5');"
        "rss=lambda f:[int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(f)][0];"
        "base=rss('VmRSS:'); [s() for _ in range(3)];"
        "print(json.dumps((rss('VmHWM:')-base)/1024))" % (SCRIPT_DIR, kind)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    try:
        return float(json.loads(out.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        return float("nan")


def bench_ml(rounds: int = 3) -> None:
    kinds = ["kanrun", "pykan", "mlp", "gemm"]
    steps = {k: _ml_step(k) for k in kinds}
    times = {k: [] for k in kinds}
    for _ in range(rounds):
        for k in kinds:
            times[k].append(_median_time(steps[k], budget_s=6.0 if k == "pykan" else 2.0,
                                         max_reps=3 if k == "pykan" else 15))
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    for k in kinds:
        print(f"  {k:7s} {med[k]:9.1f} ms per Adam step")
    mem = {k: _peak_memory_mb(k) for k in ("kanrun", "pykan")}
    print(f"  peak memory added by training steps: kanrun {mem['kanrun']:.0f} MB, "
          f"pykan {mem['pykan']:.0f} MB")
    print(f"ml-scale step: kanrun {med['pykan'] / med['kanrun']:.1f}x faster than pykan speed(); "
          f"memory {mem['kanrun'] / mem['pykan']:.2f} of pykan's; "
          f"{med['kanrun'] / med['mlp']:.2f}x the equal-parameter MLP step; "
          f"{med['kanrun'] / med['gemm']:.2f}x the bare GEMMs")


def bench_refine(reps: int = 3) -> None:
    import kanrun

    PyKAN = _pykan()
    data = kanrun.create_dataset(hellokan, n_var=2, train_num=1000, test_num=1000, seed=0)
    ours = kanrun.KAN(width=[2, 5, 1], grid=5, k=3, seed=0)
    ours.fit(data, steps=10)
    theirs = PyKAN(width=[2, 5, 1], grid=5, k=3, seed=0, auto_save=False)
    theirs.fit(data, steps=10, log=10**9)

    def run_ours():
        model = ours
        for grid in (10, 20, 50):
            model = model.refine(grid, x=data["train_input"])

    def run_theirs():
        model = theirs
        for grid in (10, 20, 50):
            model = model.refine(grid)

    rows = [(_timed(run_theirs)[0], _timed(run_ours)[0]) for _ in range(reps)]
    for p, o in rows:
        print(f"  pykan {p * 1e3:8.1f} ms | kanrun {o * 1e3:8.1f} ms")
    ratio = statistics.median(p / o for p, o in rows)
    print(f"refine 5->10->20->50: kanrun {ratio:.1f}x faster than pykan")


BENCHES = {"paper": bench_paper, "ml": bench_ml, "refine": bench_refine}

if __name__ == "__main__":
    chosen = sys.argv[1:] or list(BENCHES)
    unknown = [c for c in chosen if c not in BENCHES]
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; choose from {list(BENCHES)}")
    os.chdir(tempfile.mkdtemp(prefix="kanrun-bench-"))  # pykan writes files into the cwd
    os.makedirs("model", exist_ok=True)  # pykan's refine saves there even with auto_save=False
    for name in chosen:
        print(f"== {name}", flush=True)
        BENCHES[name]()
