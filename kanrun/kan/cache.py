"""The one cache of the library: results of work on tensors that may be seen again.

A result is kept with the tensors it was computed from and their in-place versions
(``tensor._version``). It is returned again only for the *same* tensor objects (compared
with ``is``; holding them keeps Python from reusing their identity, the flaw of caches keyed
on ``id()``) at the same versions and storage (``data_ptr``; ``p.data = ...`` keeps the
object), so an in-place change (``x.mul_``, a grid update) or a
replaced tensor (``module.to(...)``) is never served a stale result.

- :class:`TensorCache`: a few results, oldest dropped first (fit's data tensors, the first
  layer's basis of those data);
- :func:`cached_on`: a method's result kept until the attributes it depends on change (a
  layer's basis tables on its knots, whether its mask is all zero).
"""

from __future__ import annotations

import functools
from collections.abc import Callable


class TensorCache:
    """At most ``size`` results, each keyed on tensors (identity and version) and an
    optional hashable ``extra`` key."""

    __slots__ = ("size", "entries")

    def __init__(self, size: int = 2):
        self.size = int(size)
        self.entries: list = []  # (tensors, versions + extra, value), oldest first

    def get(self, tensors, compute: Callable, extra=()):
        """The result for ``tensors`` (a tuple), computing it with ``compute()`` on a miss."""
        key = (*((t._version, t.data_ptr()) for t in tensors), *extra)
        for held, held_key, value in self.entries:
            if held_key == key and all(a is b for a, b in zip(held, tensors, strict=False)):
                return value
        value = compute()
        if len(self.entries) >= self.size:
            self.entries.pop(0)
        self.entries.append((tuple(tensors), key, value))
        return value

    def clear(self) -> None:
        self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)


def cached_on(*attributes: str):
    """Method decorator: keep the result of a method without arguments until one of the
    tensors ``self.<attribute>`` is replaced or changed in place.

    The cache lives in the instance's ``__dict__`` (plain attribute access, also on an
    ``nn.Module``), under ``_cached_<method name>``.
    """

    def wrap(method):
        slot = f"_cached_{method.__name__}"

        @functools.wraps(method)
        def inner(self):
            cache = self.__dict__.get(slot)
            if cache is None:
                cache = self.__dict__[slot] = TensorCache(1)
            tensors = tuple(getattr(self, name) for name in attributes)
            return cache.get(tensors, lambda: method(self))

        return inner

    return wrap

