#!/usr/bin/env bash
# make demo: awsaudit end to end against a local moto_server, no AWS account needed.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v moto_server >/dev/null; then
  echo "demo: moto_server is not installed: pip install 'moto[server]'" >&2
  exit 1
fi
exec go run ./scripts/demo
