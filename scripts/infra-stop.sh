#!/usr/bin/env bash
# Stops the servers scripts/infra-start.sh started (RabbitMQ node, PostgreSQL cluster, s3rver, and the epmd it started).
# Anything already stopped is skipped. --wipe also deletes their data (.run/rabbitmq, .run/pg, .run/s3/data); the
# installed s3rver package is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=$PWD/.run

wipe=0
for arg in "$@"; do
  case $arg in
    --wipe) wipe=1 ;;
    -h|--help) echo "usage: scripts/infra-stop.sh [--wipe]"; exit 0 ;;
    *) echo "infra-stop: unknown option $arg (usage: scripts/infra-stop.sh [--wipe])" >&2; exit 2 ;;
  esac
done

[ -d "$RUN" ] || { echo "infra-stop: nothing to stop (no .run/)"; exit 0; }
exec 9>"$RUN/infra.lock"
flock 9
export PATH=$PATH:/usr/sbin

# pid_alive FILE COMM: the pid in FILE is running and its command is COMM (guards against a reused pid).
pid_alive() { [ -s "$1" ] && [ "$(ps -o comm= -p "$(cat "$1")" 2>/dev/null)" = "$2" ]; }
# wait_gone FILE COMM SECONDS: wait for that process to exit; false if it is still there.
wait_gone() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do pid_alive "$1" "$2" || return 0; sleep 0.1; done
  ! pid_alive "$1" "$2"
}
# stop_pid NAME FILE COMM: TERM (the whole process group, as infra-start.sh starts each server with setsid), then KILL.
stop_pid() {
  if pid_alive "$2" "$3"; then
    local pid
    pid=$(cat "$2")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$2" "$3" 10; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      wait_gone "$2" "$3" 5 || { echo "infra-stop: $1 (pid $pid) would not exit" >&2; failed=1; return; }
    fi
    echo "$1: stopped"
  else
    echo "$1: not running"
  fi
  rm -f "$2"
}
failed=0

# --- RabbitMQ ---------------------------------------------------------------------------------------------------------
node=$(cat "$RUN/rabbitmq.node" 2>/dev/null || echo "${FINETUNE_RABBITMQ_NODE:-ftp@localhost}")
if pid_alive "$RUN/rabbitmq.pid" rabbitmq-server; then
  if rabbitmqctl -n "$node" stop >"$RUN/rabbitmq-stop.log" 2>&1 && wait_gone "$RUN/rabbitmq.pid" rabbitmq-server 30; then
    echo "rabbitmq: stopped"; rm -f "$RUN/rabbitmq.pid"
  else
    echo "rabbitmq: rabbitmqctl stop did not end the node (see .run/rabbitmq-stop.log); killing it"
    # su starts the node in a session of its own, so the Erlang VM is killed by the pid the node records.
    beam=$(ls "$RUN"/rabbitmq/mnesia/*.pid 2>/dev/null | head -n 1)
    if [ -n "$beam" ]; then stop_pid "rabbitmq VM" "$beam" beam.smp; fi
    stop_pid rabbitmq "$RUN/rabbitmq.pid" rabbitmq-server
  fi
else
  echo "rabbitmq: not running"; rm -f "$RUN/rabbitmq.pid"
fi

# epmd outlives the node; stop it only if infra-start.sh started it and no other Erlang node is registered with it.
if pid_alive "$RUN/epmd.pid" epmd; then
  if epmd -names 2>/dev/null | grep -q '^name '; then
    echo "epmd: left running (other Erlang nodes use it: $(epmd -names | sed -n 's/^name \([^ ]*\).*/\1/p' | xargs))"
  else
    stop_pid epmd "$RUN/epmd.pid" epmd
  fi
fi
rm -f "$RUN/epmd.pid"

# --- PostgreSQL -------------------------------------------------------------------------------------------------------
PG=$RUN/pg
if [ -f "$PG/data/postmaster.pid" ]; then
  bin=/usr/lib/postgresql/$(cat "$PG/data/PG_VERSION")/bin
  if runuser -u postgres -- "$bin/pg_ctl" -D "$PG/data" status >/dev/null 2>&1; then
    if runuser -u postgres -- "$bin/pg_ctl" -D "$PG/data" -w -t 60 -m fast stop >/dev/null; then
      echo "postgres: stopped"
    else
      echo "infra-stop: pg_ctl stop failed (see $PG/log)" >&2; failed=1
    fi
  else
    echo "postgres: not running"
  fi
else
  echo "postgres: not running"
fi
rm -f "$RUN/pg.pid"

# --- s3rver -----------------------------------------------------------------------------------------------------------
stop_pid s3rver "$RUN/s3rver.pid" node

# The servers are gone: an env file pointing at them would only mislead.
rm -f "$RUN/infra.env"

if [ $failed -ne 0 ]; then
  [ $wipe -eq 0 ] || echo "infra-stop: not wiping, something is still running" >&2
  exit 1
fi
if [ $wipe -eq 1 ]; then
  rm -rf "$RUN/rabbitmq" "$RUN/rabbitmq.node" "$PG" "$RUN/s3/data"
  echo "wiped .run/rabbitmq, .run/pg, .run/s3/data"
fi
