"""Shared fixtures (keep minimal)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch


@pytest.fixture(scope="session")
def kanrun_cli():
    """Run the real `kanrun` command (``python -m kanrun.cli ARGS``) in a subprocess.

    Returns ``run(*args, cwd, timeout=300, env=None) -> CompletedProcess`` (text output);
    one torch thread, HYDRA_FULL_ERROR unset unless ``env`` sets it.
    """

    def run(*args, cwd, timeout: float = 300, env: dict | None = None):
        full_env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
        full_env.update({"OMP_NUM_THREADS": "1", "COLUMNS": "120"})
        full_env.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "kanrun.cli", *map(str, args)], cwd=cwd, env=full_env,
            capture_output=True, text=True, timeout=timeout, check=False,
        )

    return run


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Small tensors: one torch thread is faster than two on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _model_grads(model, x):
    x = x.clone().requires_grad_()
    y = model(x)
    (y.sin() * torch.arange(1, y.shape[1] + 1, dtype=y.dtype)).sum().backward()
    out = [y.detach(), x.grad] + [p.grad.clone() for p in model.parameters()
                                  if p.grad is not None]
    model.zero_grad()
    return out


@pytest.fixture
def model_grads():
    """``f(model, x)``: the output, the input gradient and the parameter gradients of a
    fixed loss (sum of sin(y) weighted by output index), gradients zeroed afterwards."""
    return _model_grads
