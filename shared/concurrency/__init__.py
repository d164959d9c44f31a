"""Concurrency primitives every layer may use: background loops and CPU-heavy calls on real threads."""
