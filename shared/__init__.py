"""TaskFlow's shared package: settings, database, models, events, outbox, auth, errors."""
