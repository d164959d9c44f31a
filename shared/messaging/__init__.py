"""Events on the move: the transactional outbox and its relay, the numbered stream and its consumers,
the transports (kafka, dapr, local), CloudEvents codecs and wake-ups between processes."""
