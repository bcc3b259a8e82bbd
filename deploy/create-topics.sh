#!/usr/bin/env bash
# Plan B's topics (docs/design.md, "Topics") with explicit partitions, replication and retention.
#   create-topics.sh          create the missing ones (existing topics are left alone): the
#                             `kafka-topics` step of docker-compose.yml, deploy/k8s/topics-job.yaml
#   create-topics.sh wait     wait until every one exists: the services' initContainer in
#                             deploy/k8s, so no pod starts before the Job has created them
#   BOOTSTRAP (KAFKA_BOOTSTRAP_SERVERS, kafka:9092)  TOPIC_PREFIX (planb)  PARTITIONS (8)
#   DLQ_PARTITIONS (1)  REPLICATION_FACTOR (1)  MIN_INSYNC_REPLICAS (1)  RETENTION_DAYS (7)
#   AUDIT_RETENTION_DAYS (365: planb.audit and the dead-letter topics)  WAIT_SECONDS (5)
set -euo pipefail
BOOTSTRAP=${BOOTSTRAP:-${KAFKA_BOOTSTRAP_SERVERS:-kafka:9092}}
PREFIX=${TOPIC_PREFIX:-planb}
PARTITIONS=${PARTITIONS:-8}
DLQ_PARTITIONS=${DLQ_PARTITIONS:-1}
RF=${REPLICATION_FACTOR:-1}
MIN_ISR=${MIN_INSYNC_REPLICAS:-1}
DAY_MS=86400000
RETENTION_MS=$(( ${RETENTION_DAYS:-7} * DAY_MS ))
AUDIT_RETENTION_MS=$(( ${AUDIT_RETENTION_DAYS:-365} * DAY_MS ))
KAFKA_TOPICS=${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}

topics() {  # name partitions retention_ms, one topic a line
    for topic in incidents outbound deliveries; do
        echo "$PREFIX.$topic $PARTITIONS $RETENTION_MS"
        echo "$PREFIX.$topic.dlq $DLQ_PARTITIONS $AUDIT_RETENTION_MS"
    done
    echo "$PREFIX.audit $PARTITIONS $AUDIT_RETENTION_MS"
    echo "$PREFIX.audit.dlq $DLQ_PARTITIONS $AUDIT_RETENTION_MS"
}

create() {
    topics | while read -r name partitions retention_ms; do
        "$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
            --topic "$name" --partitions "$partitions" --replication-factor "$RF" \
            --config min.insync.replicas="$MIN_ISR" --config retention.ms="$retention_ms"
    done
    "$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP" --describe --topic "$PREFIX\..*" \
        | grep -v '^\s*Topic: .*Partition:' || true
    echo "topics ready"
}

wait_for_topics() {
    while true; do
        existing=$("$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP" --list || true)
        missing=$(topics | while read -r name _; do
            grep -qxF "$name" <<<"$existing" || echo "$name"
        done)
        if [ -z "$missing" ]; then
            echo "topics ready"
            return 0
        fi
        echo "waiting for topics:" $missing
        sleep "${WAIT_SECONDS:-5}"
    done
}

case "${1:-create}" in
    create) create ;;
    wait) wait_for_topics ;;
    *) echo "usage: $0 [create|wait]" >&2; exit 2 ;;
esac
