#!/usr/bin/env bash
# Installs and starts what the test suite needs on a fresh machine: checks the .NET SDK, then installs (when missing)
# and starts RabbitMQ, PostgreSQL and the s3rver S3 stand-in on private loopback ports (scripts/infra-start.sh, which
# writes .run/infra.env; see ../shared/design/infra.md). Integration tests skip when those servers are not configured.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dotnet >/dev/null 2>&1; then
  echo "setup-test-env: the .NET 10 SDK is required (https://dot.net); global.json pins the feature band." >&2
  exit 1
fi
dotnet --version

bash scripts/infra-start.sh
