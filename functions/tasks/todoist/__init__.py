"""Moving in from Todoist: its project CSV read (scan), planned (plan) and stored (apply)."""
