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
from contextlib import contextmanager

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


class TimeUp(BaseException):
    """The time of a :func:`bounded` call is up (a BaseException, so that libraries'
    ``except Exception`` handlers, sympy's among them, let it pass)."""


class _Cutoff(TimeUp):
    """:func:`bounded`'s own stop (an outer :func:`time_limit` raises plain TimeUp)."""


FAILURES = (TypeError, ValueError, NotImplementedError, RecursionError, AttributeError)


def bounded(step, arg, until: float):
    """``step(arg)``, or None when it fails (one of :data:`FAILURES`) or runs past ``until``
    (a value of :func:`now`). On the main thread of a POSIX process the CPU interval timer
    interrupts it (an outer timer that ends sooner stays in charge and is re-armed
    afterwards); elsewhere the step runs unbounded."""
    left = until - now()
    if left <= 0:
        return None
    if not timer_usable():
        try:
            return step(arg)
        except FAILURES:
            return None
    outer, _ = signal.getitimer(TIMER)
    previous = signal.getsignal(SIGNAL)
    outer_first = 0 < outer <= left
    start = now()

    def alarm(signum, frame):
        if outer_first and callable(previous):
            previous(signum, frame)
        raise _Cutoff()

    signal.signal(SIGNAL, alarm)
    signal.setitimer(TIMER, outer if outer_first else left)
    try:
        return step(arg)
    except (_Cutoff, *FAILURES):
        return None
    finally:
        signal.setitimer(TIMER, 0)
        signal.signal(SIGNAL, previous)
        if outer > 0:
            signal.setitimer(TIMER, max(outer - (now() - start), 1e-3))


@contextmanager
def time_limit(seconds: float):
    """Raise :class:`TimeUp` in the block after ``seconds`` of CPU time (main thread on
    POSIX; no limit elsewhere)."""
    if not (seconds > 0 and timer_usable()):
        yield
        return

    def alarm(signum, frame):
        raise TimeUp()

    previous = signal.signal(SIGNAL, alarm)
    signal.setitimer(TIMER, seconds)
    try:
        yield
    finally:
        signal.setitimer(TIMER, 0)
        signal.signal(SIGNAL, previous)
