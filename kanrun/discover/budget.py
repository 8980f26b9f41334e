"""The clock of discovery's time budget: CPU seconds of this process, not wall-clock.

The budget is meant as "seconds on one core": on a machine shared with other work a
wall-clock budget would buy less search the busier the machine is, and the same data
would give different formulas. With one thread (OMP_NUM_THREADS=1) the CPU time of the
process is the time on one core; with more threads it runs faster, so a budget ends
sooner (never later) than the same wall-clock budget on an idle machine.
"""

from __future__ import annotations

import time


def now() -> float:
    """CPU seconds used by this process so far (all its threads)."""
    return time.process_time()
