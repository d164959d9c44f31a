"""The HTTP routes of the tasks function: each parses, calls one core function, and answers."""
