#!/usr/bin/env bash
# Create Plan B's topics (docs/design.md, "Topics") with explicit partitions and replication, once,
# before the services start; existing topics are left alone. Used by docker-compose.yml's
# `kafka-topics` step and the Kubernetes Job in deploy/k8s/topics-job.yaml.
#   BOOTSTRAP (kafka:9092)  TOPIC_PREFIX (planb)  PARTITIONS (8)  DLQ_PARTITIONS (1)
#   REPLICATION_FACTOR (1)  MIN_INSYNC_REPLICAS (1)  RETENTION_DAYS (7)  AUDIT_RETENTION_DAYS (365)
set -euo pipefail
BOOTSTRAP=${BOOTSTRAP:-kafka:9092}
PREFIX=${TOPIC_PREFIX:-planb}
PARTITIONS=${PARTITIONS:-8}
DLQ_PARTITIONS=${DLQ_PARTITIONS:-1}
RF=${REPLICATION_FACTOR:-1}
MIN_ISR=${MIN_INSYNC_REPLICAS:-1}
DAY_MS=86400000
RETENTION_MS=$(( ${RETENTION_DAYS:-7} * DAY_MS ))
AUDIT_RETENTION_MS=$(( ${AUDIT_RETENTION_DAYS:-365} * DAY_MS ))
KAFKA_TOPICS=${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}

create() {  # name partitions retention_ms
    "$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
        --topic "$1" --partitions "$2" --replication-factor "$RF" \
        --config min.insync.replicas="$MIN_ISR" --config retention.ms="$3"
}

for topic in incidents outbound deliveries; do
    create "$PREFIX.$topic" "$PARTITIONS" "$RETENTION_MS"
    create "$PREFIX.$topic.dlq" "$DLQ_PARTITIONS" "$AUDIT_RETENTION_MS"
done
create "$PREFIX.audit" "$PARTITIONS" "$AUDIT_RETENTION_MS"
create "$PREFIX.audit.dlq" "$DLQ_PARTITIONS" "$AUDIT_RETENTION_MS"
"$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP" --describe --topic "$PREFIX\..*" | grep -v '^\s*Topic: .*Partition:' || true
echo "topics ready"
