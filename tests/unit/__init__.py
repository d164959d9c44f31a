"""The unit tier: pure tests, no database, broker, sockets or subprocesses (`make test-fast`, seconds)."""
