"""Plan B's shared package: event contract, settings, Kafka, database and auth helpers."""
