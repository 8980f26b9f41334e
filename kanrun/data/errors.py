"""The one error type of `kanrun.data`."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset config, formula or file that cannot be turned into data.

    The message names what is wrong and what to change (the config key, the file, the
    row and column), so it can be shown to the user as is.
    """
