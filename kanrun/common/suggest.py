"""The "did you mean" hint of every error message that names an unknown key."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: object, choices: Iterable[str]) -> str | None:
    """The choice most like `name` (difflib's ratio >= 0.6), or None."""
    found = difflib.get_close_matches(str(name), list(choices), n=1)
    return found[0] if found else None


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """" Did you mean 'x'?" for the closest choice, or "" when none is close."""
    match = closest(name, choices)
    return f" Did you mean '{match}'?" if match else ""
