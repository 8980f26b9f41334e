"""The clock of every soft time limit: CPU seconds of this process, not wall-clock.

A limit is meant as "seconds on one core". On a machine shared with other work a
wall-clock limit buys less search the busier the machine is, so the same data and seed
would give different formulas; CPU time does not depend on the load. With one thread
(OMP_NUM_THREADS=1) the CPU time of the process is the time on one core; with more
threads it grows faster, so a limit ends sooner (never later) than the same wall-clock
limit on an idle machine.

``TIMER``/``SIGNAL`` are the interval timer that counts the same CPU time (``None`` where
the platform has none, e.g. Windows): a limit that must interrupt a running call arms it.
"""

from __future__ import annotations

import signal
import threading
import time

TIMER = getattr(signal, "ITIMER_PROF", None)
SIGNAL = getattr(signal, "SIGPROF", None)


def now() -> float:
    """CPU seconds used by this process so far (all its threads)."""
    return time.process_time()


def deadline(seconds: float) -> float:
    """The clock value ``seconds`` from now (negative seconds count as 0)."""
    return now() + max(0.0, float(seconds))


def timer_usable() -> bool:
    """True where an interval timer can interrupt this thread (the main thread, POSIX)."""
    return (TIMER is not None and SIGNAL is not None and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread())
