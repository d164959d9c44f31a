"""The database: engine, sessions, the unit of work, typed models and Alembic migrations."""
