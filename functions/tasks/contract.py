"""The contract layer lives in `shared.contract` (other functions use it too); this name is kept for the
routes that import it from the tasks function."""

from shared.contract import describe, operation

__all__ = ["describe", "operation"]
