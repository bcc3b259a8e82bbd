"""The contract between the services: events, topics, the channel configuration model, text
lengths as platforms count them, and the domain's errors. Imports nothing else of Plan B."""
