"""Benchmark auto_symbolic against pykan 0.2.8 on the same trained [2, 5, 1] model.

Both libraries get the same data (hellokan's exp(sin(pi x1) + x2^2), float32 as pykan
defaults to), the same training (LBFGS, lamb=1e-3) and the same candidate functions; only
``auto_symbolic`` is timed. One CPU thread. pykan's prints and progress bars are silenced
and it is built with ``auto_save=False`` (nothing written). Also times kanrun's full
hellokan flow in float64 (the acceptance test of issue 3).

    python scripts/bench_symbolic.py            # full library (pykan takes minutes)
    python scripts/bench_symbolic.py --lib sin,x^2,exp,x,tanh
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

import torch

import kanrun
from kanrun import KAN
from kanrun.kan.symbolic.library import default_library


def target(x):
    return torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)


@contextlib.contextmanager
def silenced():
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def bench_pykan(data, lib, steps):
    from kan import KAN as PyKAN

    with silenced():
        model = PyKAN(width=[2, 5, 1], grid=5, k=3, seed=0, auto_save=False)
        model.fit(data, opt="LBFGS", steps=steps, lamb=1e-3, log=steps + 1)
        model(data["train_input"])
        start = time.perf_counter()
        model.auto_symbolic(lib=lib, verbose=0)
        seconds = time.perf_counter() - start
    names = [model.symbolic_fun[li].funs_name[j][i] for li in range(2)
             for i in range(model.width_in[li]) for j in range(model.width_out[li + 1])]
    return seconds, names


def bench_kanrun(data, lib, steps):
    model = KAN([2, 5, 1], grid=5, k=3, seed=0)
    model.fit(data, opt="LBFGS", steps=steps, lamb=1e-3)
    start = time.perf_counter()
    decisions = model.auto_symbolic(lib=lib, x=data["train_input"])
    seconds = time.perf_counter() - start
    return seconds, [d["function"] for d in decisions]


def hellokan_flow():
    data = kanrun.create_dataset(target, n_var=2, train_num=1000, test_num=1000, seed=0,
                                 dtype=torch.float64)
    x = data["train_input"]
    start = time.perf_counter()
    model = KAN([2, 5, 1], grid=5, k=3, seed=0, dtype=torch.float64)
    model.fit(data, opt="LBFGS", steps=30, lamb=0.01)
    model = model.prune(x=x)
    model.fit(data, steps=20)
    model = model.refine(10, x=x)
    model.fit(data, steps=30)
    t_auto = time.perf_counter()
    model.auto_symbolic(x=x)
    t_auto = time.perf_counter() - t_auto
    hist = model.fit(data, steps=30, update_grid=False)
    seconds = time.perf_counter() - start
    (formula,), _ = model.symbolic_formula()
    return seconds, t_auto, hist["test_loss"][-1], formula, model.width


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", default=None, help="comma-separated function names "
                        "(default: kanrun's default library, 27 functions)")
    parser.add_argument("--steps", type=int, default=20, help="training steps before timing")
    parser.add_argument("--skip-pykan", action="store_true")
    parser.add_argument("--skip-flow", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    lib = args.lib.split(",") if args.lib else default_library()
    data = kanrun.create_dataset(target, n_var=2, train_num=1000, test_num=1000, seed=0,
                                 dtype=torch.float32)
    ours, our_names = bench_kanrun(data, lib, args.steps)
    print(f"library: {len(lib)} functions; model [2, 5, 1] (15 edges), 1000 samples, 1 thread")
    print(f"kanrun auto_symbolic: {ours:8.3f} s  {our_names}")
    if not args.skip_pykan:
        theirs, their_names = bench_pykan(data, lib, args.steps)
        print(f"pykan  auto_symbolic: {theirs:8.3f} s  {their_names}")
        print(f"speed-up: {theirs / ours:.1f}x")
    if not args.skip_flow:
        seconds, t_auto, rmse, formula, width = hellokan_flow()
        print(f"hellokan flow (float64): {seconds:.2f} s total, auto_symbolic {t_auto:.2f} s, "
              f"pruned width {width}, test RMSE {rmse:.2e}, formula {formula}")


if __name__ == "__main__":
    main()
