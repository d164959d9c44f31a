"""Quick add: one line of plain English into the fields of a task."""
