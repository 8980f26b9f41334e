"""Core speed and memory, kanrun vs pykan 0.2.8, measured side by side in one run.

    python scripts/bench_core.py            # all benchmarks
    python scripts/bench_core.py paper ml   # a subset: paper, sparsify, ensemble, ml, refine
    python scripts/bench_core.py ml --threads 2   # torch threads of every side (default 1)

1. paper:    fit of [2,5,1], G=5, 1000 samples, 20 LBFGS steps (grid updates on).
2. sparsify: the same fit with lamb=0.01 (the L1 + entropy penalty).
3. ensemble: 32 members of the paper fit in one KANEnsemble call (float64) against 32
             sequential solo fits: throughput, and each member's agreement with its solo fit.
4. ml:       Adam step and forward of [64,256,64] x1024, [100,100,100] x1024 and
             [784,64,10] x256 (G=5, k=3), float32: kanrun, flashkan 0.2.0 and inkan 0.5.2
             (PyPI, the bench extra), efficient-kan and fast-kan (not on PyPI: measured
             when their packages ``efficient_kan`` / ``fastkan`` are importable, e.g. a
             clone of their repositories on PYTHONPATH), pykan speed() (first shape only),
             an MLP with the same parameter count and the bare GEMMs of the same shapes (a
             lower bound for a dense-basis KAN); the memory a training step adds, each in a
             fresh process. kanrun's float32 layers take the sparse layer
             (no compile step; the fused layer compiles where the sparse one is off).
5. refine:   grid extension 5 -> 10 -> 20 -> 50 of a trained [2,5,1] model.

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

THREADS = 1
if "--threads" in sys.argv:  # the one option: torch threads of every implementation
    _at = sys.argv.index("--threads")
    THREADS = int(sys.argv[_at + 1])
    del sys.argv[_at : _at + 2]
torch.set_num_threads(THREADS)
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


def bench_paper(reps: int = 5, lamb: float = 0.0) -> None:
    import kanrun

    PyKAN = _pykan()
    data = kanrun.create_dataset(hellokan, n_var=2, train_num=1000, test_num=1000, seed=0)

    def ours(seed):
        model = kanrun.KAN(width=[2, 5, 1], grid=5, k=3, seed=seed)
        return model.fit(data, opt="LBFGS", steps=20, lamb=lamb)["test_loss"][-1]

    def theirs(seed):
        model = PyKAN(width=[2, 5, 1], grid=5, k=3, seed=seed, auto_save=False)
        return float(model.fit(data, opt="LBFGS", steps=20, lamb=lamb,
                               log=10**9)["test_loss"][-1])

    ours(100)  # warm-up (imports, first calls)
    rows = []
    for rep in range(reps):
        t_p, r_p = _timed(lambda rep=rep: theirs(rep))
        t_o, r_o = _timed(lambda rep=rep: ours(rep))
        rows.append((t_p, t_o, r_p, r_o))
        print(f"  rep {rep}: pykan {t_p:6.2f} s (test rmse {r_p:.2e}) | "
              f"kanrun {t_o:6.2f} s (test rmse {r_o:.2e})", flush=True)
    ratio = statistics.median(p / o for p, o, _, _ in rows)
    name = "paper-scale fit" if not lamb else f"paper-scale fit with lamb={lamb}"
    print(f"{name}: kanrun {ratio:.1f}x faster than pykan (median of per-rep ratios); "
          f"median test rmse kanrun {statistics.median(r[3] for r in rows):.2e}, "
          f"pykan {statistics.median(r[2] for r in rows):.2e}")


def bench_sparsify(reps: int = 5) -> None:
    bench_paper(reps, lamb=0.01)


def bench_ensemble(members: int = 32, reps: int = 2) -> None:
    import kanrun

    data = kanrun.create_dataset(hellokan, n_var=2, train_num=1000, test_num=1000, seed=0,
                                 dtype=torch.float64)

    def batched():
        ens = kanrun.KANEnsemble(width=[2, 5, 1], grid=5, k=3, seeds=range(members),
                                 dtype=torch.float64)
        return ens.fit(data, opt="LBFGS", steps=20)

    def sequential():
        return [kanrun.KAN(width=[2, 5, 1], grid=5, k=3, seed=s, dtype=torch.float64).fit(
            data, opt="LBFGS", steps=20) for s in range(members)]

    # the time inside the compiled evaluations (the members' own arithmetic, which batching
    # cannot share): sequential time / this time bounds any ensemble's throughput gain
    from kanrun.kan import compiled_eval

    inside = [0.0]
    run = compiled_eval.Plan.run

    def timed_run(plan, grad):
        start = time.perf_counter()
        run(plan, grad)
        inside[0] += time.perf_counter() - start

    kanrun.KAN(width=[2, 5, 1], grid=5, k=3, seed=0).fit(data, steps=2)  # warm-up
    rows = []
    compiled_eval.Plan.run = timed_run
    try:
        for rep in range(reps):
            inside[0] = 0.0
            t_s, solo = _timed(sequential)
            arithmetic = inside[0]
            t_b, ens = _timed(batched)
            worst = max(abs(e["train_loss"][-1] - o["train_loss"][-1]) / o["train_loss"][-1]
                        for e, o in zip(ens, solo, strict=True))
            rows.append((t_s, t_b, worst, arithmetic))
            print(f"  rep {rep}: {members} sequential fits {t_s:6.2f} s (of which "
                  f"{arithmetic:.2f} s compiled evaluations) | one ensemble {t_b:6.2f} s | "
                  f"worst member-vs-solo final loss {worst:.1e} (relative)", flush=True)
    finally:
        compiled_eval.Plan.run = run
    ratio = statistics.median(r[0] / r[1] for r in rows)
    bound = statistics.median(r[0] / r[3] for r in rows if r[3] > 0) if any(
        r[3] > 0 for r in rows) else float("nan")
    print(f"ensemble of {members}: {ratio:.1f}x the throughput of sequential fits "
          f"(bound by the members' own evaluations: {bound:.1f}x); worst member-vs-solo "
          f"difference {max(r[2] for r in rows):.1e}")


ML_SHAPES = [([64, 256, 64], 1024), ([100, 100, 100], 1024), ([784, 64, 10], 256)]
ML_GRID, ML_K = 5, 3


def _ml_model(kind: str, width):
    torch.manual_seed(0)
    if kind == "kanrun":
        import kanrun

        return kanrun.KAN(width=list(width), grid=ML_GRID, k=ML_K, seed=0)
    if kind == "pykan":
        model = _pykan()(width=list(width), grid=ML_GRID, k=ML_K, seed=0, auto_save=False)
        model.speed()
        return model
    if kind == "flashkan":
        import flashkan

        return flashkan.KANNetwork(list(width), grid_size=ML_GRID, spline_order=ML_K)
    if kind in ("inkan", "inkan-eager"):
        import inkan

        return inkan.KANNetwork(list(width), grid_size=ML_GRID, spline_order=ML_K,
                                compile_basis=kind == "inkan")
    if kind == "efficient-kan":
        import efficient_kan

        return efficient_kan.KAN(list(width), grid_size=ML_GRID, spline_order=ML_K)
    if kind == "fast-kan":  # Gaussian RBFs: as many per edge as kanrun has B-splines
        import fastkan

        return fastkan.FastKAN(list(width), num_grids=ML_GRID + ML_K)
    # the MLP with the KAN's trained parameter count (coefficients and two scales per edge)
    n_kan = sum(a * b for a, b in zip(width, width[1:], strict=False)) * (ML_GRID + ML_K + 2)
    hidden = n_kan // (width[0] + width[-1] + 1)
    return torch.nn.Sequential(torch.nn.Linear(width[0], hidden), torch.nn.SiLU(),
                               torch.nn.Linear(hidden, width[-1]))


def _ml_step(kind: str, width=(64, 256, 64), batch: int = 1024, train: bool = True):
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(batch, width[0], generator=gen) * 2 - 1
    y = torch.rand(batch, width[-1], generator=gen)
    if kind == "gemm":  # the GEMMs of a KAN step: forward, and the two of backward per layer
        mats = []
        for a, b in zip(width, width[1:], strict=False):
            feat = a * (ML_GRID + ML_K)
            mats.append((torch.rand(b, feat), torch.rand(feat, batch), torch.rand(b, batch)))

        def step():  # the first layer needs no input gradient
            for li, (w, basis, grad) in enumerate(mats):
                w @ basis
                if train:
                    grad @ basis.t()
                    if li:
                        w.t() @ grad
        return step
    model = _ml_model(kind, width)
    if not train:
        def forward():
            with torch.no_grad():
                model(x)
        return forward
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        torch.nn.functional.mse_loss(out, y).backward()
        opt.step()
    return step


FIRST_CALLS: dict = {}  # label -> seconds of its first call (compilation where there is one)


def _median_time(step, budget_s: float = 3.0, max_reps: int = 15, label=None) -> float:
    compile_s, _ = _timed(step)
    if label is not None:
        FIRST_CALLS.setdefault(label, compile_s)
    first, _ = _timed(step)
    reps = max(2, min(max_reps, int(budget_s / max(first, 1e-6))))
    return statistics.median(_timed(step)[0] for _ in range(reps))


def _peak_memory_mb(kind: str, width, batch) -> float:
    code = (
        "import json,sys,torch; sys.path.insert(0,%r); torch.set_num_threads(%d);"  # noqa: UP031 (a code template)
        "import bench_core as b; s=b._ml_step(%r,%r,%r); s();"
        "open('/proc/self/clear_refs','w').write('5');"
        "rss=lambda f:[int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(f)][0];"
        "base=rss('VmRSS:'); [s() for _ in range(3)];"
        "print(json.dumps((rss('VmHWM:')-base)/1024))" % (SCRIPT_DIR, THREADS, kind, list(width),
                                                           batch)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    try:
        return float(json.loads(out.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        return float("nan")


def _available(kind: str) -> bool:
    module = {"flashkan": "flashkan", "inkan": "inkan", "inkan-eager": "inkan",
              "efficient-kan": "efficient_kan", "fast-kan": "fastkan"}.get(kind)
    if module is None:
        return True
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def bench_ml(rounds: int = 3) -> None:
    for shape, (width, batch) in enumerate(ML_SHAPES):
        kinds = ["kanrun", "flashkan", "inkan", "inkan-eager", "efficient-kan", "fast-kan",
                 "mlp", "gemm"]
        if shape == 0:
            kinds.insert(1, "pykan")
        kinds = [k for k in kinds if _available(k)]
        print(f"  [{','.join(map(str, width))}] x{batch}, {THREADS} thread(s)", flush=True)
        med = {}
        for train in (True, False):
            steps = {}
            for k in kinds:
                try:
                    steps[k] = _ml_step(k, width, batch, train)
                except Exception as err:  # a third-party layer that cannot run here
                    print(f"    {k}: skipped ({type(err).__name__}: {err})")
            times = {k: [] for k in steps}
            for _ in range(rounds):  # interleaved rounds
                for k, step in list(steps.items()):
                    slow = k == "pykan"
                    try:  # the first call compiles where a layer uses torch.compile
                        times[k].append(_median_time(step, budget_s=6.0 if slow else 2.0,
                                                     max_reps=3 if slow else 15,
                                                     label=(k, train)))
                    except Exception as err:
                        print(f"    {k}: skipped ({type(err).__name__}: {err})")
                        del steps[k]
            for k, v in times.items():
                if k in steps:
                    med[(k, train)] = statistics.median(v) * 1e3
        for k in kinds:
            if (k, True) in med:
                print(f"    {k:11s} {med[(k, True)]:9.1f} ms per Adam step, "
                      f"{med[(k, False)]:8.1f} ms forward")
        first = ", ".join(f"{k} {FIRST_CALLS[(k, True)]:.1f} s" for k in kinds
                          if (k, True) in FIRST_CALLS and k in ("kanrun", "flashkan", "inkan"))
        print(f"    first training step (compiles where a layer uses torch.compile): {first}")
        mem = {k: _peak_memory_mb(k, width, batch) for k in ("kanrun", "flashkan", "mlp")
               if _available(k)}
        print("    memory added by a training step: "
              + ", ".join(f"{k} {v:.0f} MB" for k, v in mem.items()))
        for train, what in ((True, "step"), (False, "forward")):
            ours = med[("kanrun", train)]
            rel = ", ".join(f"{ours / med[(k, train)]:.2f}x {k}" for k in kinds
                            if k != "kanrun" and (k, train) in med)
            print(f"  kanrun {what}: {rel}")


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


BENCHES = {"paper": bench_paper, "sparsify": bench_sparsify, "ensemble": bench_ensemble,
           "ml": bench_ml, "refine": bench_refine}

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
