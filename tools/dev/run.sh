#!/usr/bin/env bash
# `npm start`: set up what is missing, then run the whole stack in the foreground.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/dev/bootstrap.sh
exec node_modules/.bin/tsx tools/dev/stack.ts
