"""Real parts for tests: PostgreSQL databases, the tansu broker, a Dapr sidecar stand-in."""
