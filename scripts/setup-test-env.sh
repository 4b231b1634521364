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

# install_optional PACKAGE WHAT-HAPPENS-WITHOUT-IT: installs a Debian package the tests use but can do without (root
# only; a fresh machine has no package lists yet: update once and retry); on failure says what is missing, goes on.
install_optional() {
  local package=$1 without=$2
  if [ "$(id -u)" != 0 ]; then
    echo "setup-test-env: $package is missing and only root can install it; $without" >&2
    return
  fi
  echo "setup-test-env: installing $package (log: .run/apt-$package.log)"
  { DEBIAN_FRONTEND=noninteractive apt-get install -y "$package" \
    || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "$package"; }; } \
    >".run/apt-$package.log" 2>&1 \
    || echo "setup-test-env: $package could not be installed (see .run/apt-$package.log); $without" >&2
}

# The dashboard browser test drives Debian's chromium (Playwright's own browser download cannot work offline); without
# it that one test skips with a message.
[ -x /usr/bin/chromium ] || install_optional chromium "the browser test will skip"

# gcc compiles the AVX512_BF16 kernel at build time (lib/FineTune.Models/Native); without it the build goes on with the
# managed bf16 kernels (the same bits, slower) and the tests compare those paths only.
command -v gcc >/dev/null 2>&1 || install_optional gcc "bf16 runs on the managed kernels"
