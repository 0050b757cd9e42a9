#!/usr/bin/env bash
# The compose Kafka's entry point (docker-compose.yml, service kafka). Writes the broker's own
# SASL/PLAIN login from DOLLY_KAFKA_BROKER_PASSWORD, then hands over to the apache/kafka image's
# own start script. The image turns KAFKA_* variables into server.properties but drops every
# value that contains '=', which a JAAS line always does: hence a JAAS file (KAFKA_OPTS names it).
set -euo pipefail

password=${DOLLY_KAFKA_BROKER_PASSWORD:-}
if [[ ! $password =~ ^[A-Za-z0-9._~-]{16,}$ ]]; then
  echo 'DOLLY_KAFKA_BROKER_PASSWORD: at least 16 letters, digits or ._~- (e.g. openssl rand -hex 24)' >&2
  exit 1
fi

umask 077
login="username=\"broker\" password=\"$password\""
# One section for both listeners: PLAIN for the broker's own principal (KRaft controllers cannot
# use SCRAM), SCRAM for Dolly's and the integrators' users (made by kafka-setup.sh).
cat > /opt/kafka/config/dolly-jaas.conf <<JAAS
KafkaServer {
  org.apache.kafka.common.security.plain.PlainLoginModule required $login user_broker="$password";
  org.apache.kafka.common.security.scram.ScramLoginModule required;
};
JAAS
# For the health check, which must log in like any client.
cat > /opt/kafka/config/dolly-admin.properties <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required $login;
PROPERTIES
unset DOLLY_KAFKA_BROKER_PASSWORD password login

exec /etc/kafka/docker/run
