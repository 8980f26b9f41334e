"""The Pareto front of runs: fewest parameters for the smallest error."""

from __future__ import annotations

import math
from collections.abc import Sequence


def pareto_front(cost: Sequence[float], error: Sequence[float]) -> list[bool]:
    """``mask[i]`` is True when no other point has ``cost <= cost[i]`` and
    ``error <= error[i]`` with at least one of them strictly smaller (both minimized).

    Points with a NaN or infinite coordinate are never on the front and dominate nothing.
    Identical points are all on the front when one of them is.
    """
    if len(cost) != len(error):
        raise ValueError(f"cost and error differ in length: {len(cost)} != {len(error)}")
    finite = [math.isfinite(c) and math.isfinite(e) for c, e in zip(cost, error, strict=True)]
    order = sorted((i for i in range(len(cost)) if finite[i]), key=lambda i: (cost[i], error[i]))
    mask = [False] * len(cost)
    best = math.inf  # smallest error among points of strictly smaller cost
    position = 0
    while position < len(order):
        # a block of equal cost: only its smallest error can be on the front
        end = position
        while end < len(order) and cost[order[end]] == cost[order[position]]:
            end += 1
        block_best = error[order[position]]
        if block_best < best:
            for i in order[position:end]:
                mask[i] = error[i] == block_best
            best = block_best
        position = end
    return mask
