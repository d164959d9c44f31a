"""The domain: the event catalog and envelope, JSON text, recurrence maths, times and zones, request metadata and
domain errors. Pure Python: no database, broker or web framework is imported here."""
