"""What starts work: cron bindings and event deliveries (Dapr, KafkaSource), consumer declarations, the
Kafka consumer loop, Dapr gRPC bindings and in-process timers."""
