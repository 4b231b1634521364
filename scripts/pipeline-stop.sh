#!/usr/bin/env bash
# Stops the five services started by scripts/pipeline-start.sh, then the servers (scripts/infra-stop.sh; --wipe also
# deletes their data). --services-only leaves the servers running.
set -uo pipefail
cd "$(dirname "$0")/.."
for svc in ingestion tokenization training evaluation deployment; do
  pidfile=.run/services/$svc.pid
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")" && echo "stopped $svc"
  fi
  rm -f "$pidfile"
done
[ "${1:-}" = "--services-only" ] || bash scripts/infra-stop.sh "$@"
