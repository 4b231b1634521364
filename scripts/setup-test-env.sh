#!/usr/bin/env bash
# Installs and starts what the test suite needs on a fresh machine: checks the .NET SDK, then installs (when missing)
# and starts RabbitMQ, PostgreSQL and the s3rver S3 stand-in on private loopback ports (scripts/infra-start.sh, which
# writes .run/infra.env; see ../shared/design/infra.md), and Debian's chromium for the dashboard browser test.
# Integration tests skip when those servers are not configured.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dotnet >/dev/null 2>&1; then
  echo "setup-test-env: the .NET 10 SDK is required (https://dot.net); global.json pins the feature band." >&2
  exit 1
fi
dotnet --version

bash scripts/infra-start.sh

# The dashboard browser test drives Debian's chromium (Playwright's own browser download cannot work offline); without
# it that one test skips with a message.
if ! [ -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup-test-env: installing chromium (log: .run/apt-chromium.log)"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
      || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }; } >.run/apt-chromium.log 2>&1 \
      || echo "setup-test-env: chromium could not be installed (see .run/apt-chromium.log); the browser test will skip" >&2
  else
    echo "setup-test-env: chromium is missing and only root can install it; the browser test will skip" >&2
  fi
fi

# gcc compiles the AVX512_BF16 kernel at build time (lib/FineTune.Models/Native); without it the build goes on with the
# managed bf16 kernels (the same bits, slower) and the tests compare those paths only.
if ! command -v gcc >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup-test-env: installing gcc (log: .run/apt-gcc.log)"
    { DEBIAN_FRONTEND=noninteractive apt-get install -y gcc \
      || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y gcc; }; } >.run/apt-gcc.log 2>&1 \
      || echo "setup-test-env: gcc could not be installed (see .run/apt-gcc.log); bf16 runs on managed kernels" >&2
  else
    echo "setup-test-env: gcc is missing and only root can install it; bf16 runs on managed kernels" >&2
  fi
fi
