#!/usr/bin/env bash
# Everything a fresh clone needs before Dolly runs or is tested: Node packages, the Debian packages
# (installed when root, else one line saying what to install), Java and Maven for the local Kafka
# broker, and an up-to-date build. Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/../.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: $1 is missing: $2" >&2; exit 1; }; }

need node "install Node.js 20.19 or newer"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || { echo "setup: Node.js $(node -v) is too old; Dolly needs 20.19 or newer" >&2; exit 1; }

# npm ci when the lock changed since the last install (node_modules/.package-lock.json mirrors it).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing Node packages (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

bash tools/setup/system-packages.sh

if [ -z "${KAFKA_BROKERS:-}" ]; then
  need java "install Java 17 (apt-get install -y openjdk-17-jre-headless) or set KAFKA_BROKERS to an external Kafka"
  need mvn "install Maven (apt-get install -y maven) or set KAFKA_BROKERS to an external Kafka"
fi

echo "setup: building" >&2
npm run -s build
