#!/usr/bin/env bash
# Installs what the servers need, when it is missing: RabbitMQ, PostgreSQL and curl (apt; root), and the s3rver S3
# stand-in (npm, into .run/s3, its listing namespace fixed: ../shared/design/infra.md). Idempotent and quick when all is
# there. Used by scripts/infra-start.sh (servers in the background, for the tests and scripts/pipeline-start.sh) and by
# scripts/servers/*.sh (one server in the foreground: the AppHost's executables mode).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=$PWD/.run
S3=$RUN/s3
S3RVER_VERSION=3.7.1
mkdir -p "$RUN" "$S3"
# One installer at a time (the AppHost starts three servers at once).
exec 8>"$RUN/install.lock"
flock 8

fail() { echo "infra-install: $1 failed; see $2" >&2; tail -n 15 "$2" 2>/dev/null | sed 's/^/  | /' >&2; exit 1; }

missing=()
command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || missing+=(rabbitmq-server)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "infra-install: installing ${missing[*]} needs root (apt-get)" >&2; exit 1; }
  echo "infra-install: installing ${missing[*]} (log: .run/apt.log)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y "${missing[@]}" >"$RUN/apt.log" 2>&1; then
    # A fresh machine has no package lists yet: update once and retry.
    { apt-get update && apt-get install -y "${missing[@]}"; } >>"$RUN/apt.log" 2>&1 \
      || fail "apt-get install ${missing[*]}" "$RUN/apt.log"
  fi
fi

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
  || { echo "infra-install: Node.js and npm are required for s3rver (Node 20 is expected on the machine)" >&2; exit 1; }
if [ "$(node -p "require('$S3/node_modules/s3rver/package.json').version" 2>/dev/null)" != "$S3RVER_VERSION" ]; then
  echo "infra-install: installing s3rver@$S3RVER_VERSION (log: .run/s3/npm.log)"
  npm install --prefix "$S3" --no-audit --no-fund "s3rver@$S3RVER_VERSION" >"$S3/npm.log" 2>&1 8>&- \
    || fail "npm install s3rver" "$S3/npm.log"
fi
# s3rver answers listings in the wrong XML namespace, so the Minio client would see 0 objects: patch once.
controllers=$S3/node_modules/s3rver/lib/controllers
if grep -q -F 'http://doc.s3.amazonaws.com/2006-03-01/' "$controllers"/*.js; then
  sed -i 's#http://doc.s3.amazonaws.com/2006-03-01/#http://s3.amazonaws.com/doc/2006-03-01/#g' "$controllers"/*.js
fi
