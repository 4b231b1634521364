#!/usr/bin/env bash
# Installs and starts what the test suite needs on a fresh machine. Today that is the .NET SDK only (checked here);
# RabbitMQ, PostgreSQL and the S3 stand-in join when the services' integration tests do (see ../shared/design/infra.md).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dotnet >/dev/null 2>&1; then
  echo "setup-test-env: the .NET 10 SDK is required (https://dot.net); global.json pins the feature band." >&2
  exit 1
fi
dotnet --version
