"""Plan B's shared package, in four layers; each imports only from the layers below it.

    devtools   the `planb` CLI, supervisor, embedded broker, demo, sandbox peers, doc generators
    web        the HTTP edge: app factory, auth, guards, RFC 9457 problems, ops endpoints
    runtime    settings, database, Kafka, consumer, outbox relay, retries, loops, migrations
    contract   events, topics, channel configuration, text lengths, domain errors

Services (`services/*`) build on `web` and below; nothing here imports a service or `tests`.
"""
