"""Discovery: from data (x, y) to the simplest formula that fits it as well as it allows.

    result = discover(x, y, ["a", "b"], budget=60)
    result.expr            # a sympy expression over a, b
    result.candidates      # every candidate kept, best first (complexity, holdout error)

Nothing here reads a ground truth or the name of a dataset.
"""

from .candidate import Candidate, complexity
from .search import Discovery, discover

__all__ = ["Candidate", "Discovery", "complexity", "discover"]
