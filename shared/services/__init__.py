"""Rules that need the database, shared by several functions: series spawning, task snapshots,
preferences and credentials."""
