#!/usr/bin/env bash
# Runs once, when the postgres container initialises an empty data volume (it is mounted in
# /docker-entrypoint-initdb.d): Dolly's roles, with passwords from the environment (stored as
# SCRAM), and its database, owned by the owner. The roles are those of libs/persistence/src/roles.ts;
# README "PostgreSQL roles" says what each may do. The migrate service then migrates as dolly_owner.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
  -v owner_password="$DOLLY_OWNER_DB_PASSWORD" \
  -v api_password="$DOLLY_API_DB_PASSWORD" \
  -v projector_password="$DOLLY_PROJECTOR_DB_PASSWORD" \
  -v worker_password="$DOLLY_WORKER_DB_PASSWORD" <<'SQL'
SET password_encryption = 'scram-sha-256';
CREATE ROLE dolly_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE dolly_api NOLOGIN;
CREATE ROLE dolly_projector NOLOGIN;
GRANT pg_read_all_stats TO dolly_projector; -- the relay names what holds it back
CREATE ROLE dolly_worker NOLOGIN;
CREATE ROLE dolly_api_login LOGIN PASSWORD :'api_password' IN ROLE dolly_api;
CREATE ROLE dolly_projector_login LOGIN PASSWORD :'projector_password' IN ROLE dolly_projector;
CREATE ROLE dolly_worker_login LOGIN PASSWORD :'worker_password' IN ROLE dolly_worker;
CREATE DATABASE dolly OWNER dolly_owner;
SQL
