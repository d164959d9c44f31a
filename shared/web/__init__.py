"""Flask glue every function shares: the app factory and guards, operations (the HTTP contract), request
bodies, problem details, idempotency, API docs and the dead-letter admin routes."""
