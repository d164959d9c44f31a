"""JSON log lines and OpenTelemetry traces, carried with the correlation id of what is being handled."""
