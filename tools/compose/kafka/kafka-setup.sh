#!/usr/bin/env bash
# Dolly's principals on the compose Kafka (docker-compose.yml, service kafka-setup): the SCRAM
# users and their ACLs, set through the Admin API as the broker's super user. It runs at every
# `docker compose up`, before the apps: setting what is set changes nothing, a changed password
# takes effect.
set -euo pipefail

for name in DOLLY_KAFKA_BROKER_PASSWORD DOLLY_KAFKA_PASSWORD DOLLY_KAFKA_INTEGRATOR_PASSWORD; do
  if [[ ! ${!name:-} =~ ^[A-Za-z0-9._~-]{16,}$ ]]; then
    echo "$name: at least 16 letters, digits or ._~- (e.g. openssl rand -hex 24)" >&2
    exit 1
  fi
done

umask 077
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/admin.properties" <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="$DOLLY_KAFKA_BROKER_PASSWORD";
PROPERTIES
admin=(--bootstrap-server kafka:9092 --command-config "$work/admin.properties")

scram_user() { # name password: from a file, so that the password is not on a command line
  printf 'SCRAM-SHA-512=password=%s\n' "$2" > "$work/scram.properties"
  /opt/kafka/bin/kafka-configs.sh "${admin[@]}" --alter --entity-type users --entity-name "$1" \
    --add-config-file "$work/scram.properties"
}
allow() {
  /opt/kafka/bin/kafka-acls.sh "${admin[@]}" --add "$@" > /dev/null
}

scram_user dolly "$DOLLY_KAFKA_PASSWORD"
scram_user integrator "$DOLLY_KAFKA_INTEGRATOR_PASSWORD"

# Dolly's services: its topics (dolly.*) and consumer groups (dolly-*), creating topics,
# idempotent producing.
allow --allow-principal User:dolly --operation All --topic dolly. --resource-pattern-type prefixed
allow --allow-principal User:dolly --operation All --group dolly- --resource-pattern-type prefixed
allow --allow-principal User:dolly --operation Create --operation Describe \
  --operation IdempotentWrite --cluster

# Integrators: read Dolly's event topics in consumer groups of their own (integrator.*). Nothing
# else: no producing, no other topic.
for stream in host datastore vm task worker pool; do
  allow --allow-principal User:integrator --operation Read --operation Describe \
    --topic "dolly.$stream.events"
done
allow --allow-principal User:integrator --operation Read --operation Describe \
  --group integrator. --resource-pattern-type prefixed

echo 'Kafka principals ready: dolly (Dolly'"'"'s services), integrator (read-only)'
