#!/usr/bin/env bash
# `npm test`: set up what is missing, check style and types, then run every suite (unit,
# integration, end-to-end) against the real PostgreSQL and Kafka (found or started by the suites'
# global setup). Arguments go to Jest (npm test -- --selectProjects unit).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/dev/bootstrap.sh
echo "test: lint and types" >&2
npx eslint . --max-warnings=0
# The build compiles the apps only: specs, tests, tools and benchmarks are type-checked here.
npx tsc --noEmit -p tsconfig.json
npx prettier --check . --log-level warn
echo "test: jest" >&2
exec npx jest --maxWorkers=2 "$@"
