"""The process: the Runtime each function owns, leadership, metrics and broker probes."""
