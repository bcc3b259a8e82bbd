"""What a service runs on: settings, database, Kafka, consumer, outbox relay, retries, loops,
logging and migrations. Builds on `shared.contract` only."""
