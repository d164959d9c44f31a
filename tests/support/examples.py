"""How many examples a property test tries: all of them by default (`make test`), fewer for the inner loop.

`make test-fast` sets TASKFLOW_EXAMPLES_SCALE=0.1 so the unit tier finishes in seconds; the properties are
the same, each tried on a tenth of the inputs (at least ten).
"""

from __future__ import annotations

import os

SCALE = float(os.environ.get("TASKFLOW_EXAMPLES_SCALE", "1"))


def examples(count: int) -> int:
    """`count` scaled by TASKFLOW_EXAMPLES_SCALE, never under ten."""
    return max(10, round(count * SCALE))
