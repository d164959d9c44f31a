"""Rules that need the database, shared by several functions: how a task and its events are built
(tasks), series spawning (series), task snapshots, preferences and credentials."""
