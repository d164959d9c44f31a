"""What a test stored, counted straight from the database (not through the API under test)."""

from __future__ import annotations

import sqlalchemy as sa

from shared.persistence.db import make_engine


def rows(db_url: str, model: type) -> int:
    """Count the rows of `model`'s table."""
    engine = make_engine(db_url)
    with engine.connect() as conn:
        count = conn.scalar(sa.select(sa.func.count()).select_from(model))
    engine.dispose()
    return int(count or 0)
