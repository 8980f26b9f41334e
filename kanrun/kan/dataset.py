"""``create_dataset``: sample a function on a box, pykan-style, with an explicit seed."""

from __future__ import annotations

import torch

from .spec import resolve_dtype


def create_dataset(
    f,
    n_var: int = 2,
    ranges=(-1.0, 1.0),
    train_num: int = 1000,
    test_num: int = 1000,
    normalize_input: bool = False,
    normalize_label: bool = False,
    seed: int = 0,
    dtype=None,
    device="cpu",
) -> dict:
    """Inputs uniform in ``ranges`` (one [lo, hi] for all, or one per variable).

    ``f`` maps an (n, n_var) tensor to (n, n_out) (or (n,)); labels are computed in float64
    and then cast to ``dtype`` (default: torch's default dtype, as pykan). Returns
    ``train_input, train_label, test_input, test_label``.
    """
    rng = torch.as_tensor(ranges, dtype=torch.float64)
    if rng.dim() == 1:
        rng = rng.unsqueeze(0).expand(n_var, 2)
    if rng.shape != (n_var, 2):
        raise ValueError(f"ranges must be [lo, hi] or {n_var} pairs, got {list(ranges)}")
    gen = torch.Generator().manual_seed(int(seed))
    dt = resolve_dtype(dtype)

    def sample(n):
        u = torch.rand(n, n_var, generator=gen, dtype=torch.float64)
        x = rng[:, 0] + u * (rng[:, 1] - rng[:, 0])
        y = f(x)
        if y.dim() == 1:
            y = y.unsqueeze(1)
        return x, y

    x_tr, y_tr = sample(train_num)
    x_te, y_te = sample(test_num)
    if normalize_input:
        mu, sd = x_tr.mean(0), x_tr.std(0)
        x_tr, x_te = (x_tr - mu) / sd, (x_te - mu) / sd
    if normalize_label:
        mu, sd = y_tr.mean(0), y_tr.std(0)
        y_tr, y_te = (y_tr - mu) / sd, (y_te - mu) / sd
    out = {"train_input": x_tr, "train_label": y_tr, "test_input": x_te, "test_label": y_te}
    return {key: v.to(device=device, dtype=dt) for key, v in out.items()}
