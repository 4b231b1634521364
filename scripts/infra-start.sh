#!/usr/bin/env bash
# Installs (when missing) and starts the servers the services and their integration tests use, each bound to 127.0.0.1
# on a private port with all its state under .run/, so it never collides with a system copy:
#   RabbitMQ   own node ftp@localhost, AMQP 5679, management 15679, distribution 25679   .run/rabbitmq/
#   PostgreSQL own cluster, port 5439, databases finetune and finetune_test              .run/pg/
#   s3rver     the S3 stand-in for MinIO, port 9479                                     .run/s3/
# Idempotent: a server that already answers is left alone. Writes .run/infra.env (`source .run/infra.env`).
# Ports and node name can be overridden: FINETUNE_RABBITMQ_PORT, FINETUNE_RABBITMQ_MANAGEMENT_PORT,
# FINETUNE_RABBITMQ_DIST_PORT, FINETUNE_RABBITMQ_NODE, FINETUNE_POSTGRES_PORT, FINETUNE_S3_PORT.
# Needs root (the nodes run as users rabbitmq and postgres). Stop with scripts/infra-stop.sh [--wipe].
# Recipes and pitfalls: ../shared/design/infra.md.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
RUN=$REPO/.run

AMQP_PORT=${FINETUNE_RABBITMQ_PORT:-5679}
MGMT_PORT=${FINETUNE_RABBITMQ_MANAGEMENT_PORT:-15679}
DIST_PORT=${FINETUNE_RABBITMQ_DIST_PORT:-25679}
NODE=${FINETUNE_RABBITMQ_NODE:-ftp@localhost}
PG_PORT=${FINETUNE_POSTGRES_PORT:-5439}
S3_PORT=${FINETUNE_S3_PORT:-9479}
TIMEOUT=${FINETUNE_INFRA_TIMEOUT:-120}   # seconds each server may take to become ready

mkdir -p "$RUN"
# One start or stop at a time. The servers are started with fd 9 closed so they do not hold the lock.
exec 9>"$RUN/infra.lock"
flock 9

# --- helpers ----------------------------------------------------------------------------------------------------------
usec() { echo "${EPOCHREALTIME//[.,]/}"; }   # microseconds
since() { local d=$(( $(usec) - $1 )); printf '%d.%d s' $((d / 1000000)) $((d % 1000000 / 100000)); }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
http_answers() { curl -s -o /dev/null --max-time 2 "$@"; }   # any HTTP status counts; curl fails only without one
# pid_alive FILE COMM: the pid in FILE is running and its command is COMM (guards against a reused pid).
pid_alive() { [ -s "$1" ] && [ "$(ps -o comm= -p "$(cat "$1")" 2>/dev/null)" = "$2" ]; }
fail() {  # fail SERVER LOG [DETAIL]
  echo "infra-start: $1 failed to start${3:+ ($3)}; see $2" >&2
  if [ -f "$2" ]; then tail -n 15 "$2" | sed 's/^/  | /' >&2; fi
  exit 1
}
need_root() { [ "$(id -u)" = 0 ] || { echo "infra-start: $1 needs root" >&2; exit 1; }; }

# --- install what is missing ------------------------------------------------------------------------------------------
bash scripts/infra-install.sh 9>&-
export PATH=$PATH:/usr/sbin   # rabbitmq-server and rabbitmqctl live there

# --- RabbitMQ ---------------------------------------------------------------------------------------------------------
# Launched first and awaited last: it takes the longest to boot, so PostgreSQL and s3rver start meanwhile.
RMQ=$RUN/rabbitmq
rmq_fail() { fail "RabbitMQ ($NODE)" "${2:-$RMQ/stdout.log}" "$1; node log: $RMQ/log/$NODE.log"; }
rabbitmq_launch() {
  rmq_t=$(usec)
  if port_open "$AMQP_PORT"; then rmq_state="running on port $AMQP_PORT ($(since "$rmq_t"))"; return; fi
  rmq_state=launched
  pid_alive "$RUN/rabbitmq.pid" rabbitmq-server && return   # launched by an earlier call and still booting: just wait for it
  need_root "starting RabbitMQ (as user rabbitmq)"
  mkdir -p "$RMQ"
  printf 'listeners.tcp.default = 127.0.0.1:%s\nmanagement.tcp.port = %s\nmanagement.tcp.ip = 127.0.0.1\n' \
    "$AMQP_PORT" "$MGMT_PORT" >"$RMQ/rabbitmq.conf"
  echo '[rabbitmq_management].' >"$RMQ/enabled_plugins"
  echo "$NODE" >"$RUN/rabbitmq.node"   # infra-stop.sh reads it
  : >"$RMQ/stdout.log"
  chown -R rabbitmq:rabbitmq "$RMQ"    # the Debian wrapper runs the node as user rabbitmq; it must own its data
  # The node would start epmd itself, and epmd outlives it; start it here instead so infra-stop.sh can stop it by pid.
  rm -f "$RUN/epmd.pid"
  if ! port_open 4369; then
    setsid epmd -address 127.0.0.1 </dev/null >"$RMQ/epmd.log" 2>&1 9>&- &
    echo $! >"$RUN/epmd.pid"
    for _ in $(seq 50); do port_open 4369 && break; sleep 0.1; done
    port_open 4369 || fail "epmd (for RabbitMQ)" "$RMQ/epmd.log"
  fi
  # RABBITMQ_CONFIG_FILE is given without its .conf suffix; the distribution port binds to loopback too (by default it
  # listens on all interfaces). setsid: its own session, so it outlives the caller's job.
  RABBITMQ_NODENAME=$NODE RABBITMQ_CONFIG_FILE=$RMQ/rabbitmq RABBITMQ_ENABLED_PLUGINS_FILE=$RMQ/enabled_plugins \
  RABBITMQ_MNESIA_BASE=$RMQ/mnesia RABBITMQ_LOG_BASE=$RMQ/log RABBITMQ_DIST_PORT=$DIST_PORT \
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}' ERL_CRASH_DUMP=$RMQ/erl_crash.dump \
    setsid rabbitmq-server </dev/null >>"$RMQ/stdout.log" 2>&1 9>&- &
  echo $! >"$RUN/rabbitmq.pid"
}
rabbitmq_wait() {
  if [ "$rmq_state" != launched ]; then echo "rabbitmq:   already $rmq_state"; return; fi
  local deadline=$((SECONDS + TIMEOUT))
  # await_startup can return before a node that dies at boot is noticed, so watch the process and the AMQP port.
  until port_open "$AMQP_PORT"; do
    pid_alive "$RUN/rabbitmq.pid" rabbitmq-server || rmq_fail "the node exited"
    [ $SECONDS -lt $deadline ] || rmq_fail "AMQP port $AMQP_PORT still closed after ${TIMEOUT}s"
    sleep 0.2
  done
  rabbitmqctl -n "$NODE" await_startup --timeout "$TIMEOUT" >"$RMQ/ctl.log" 2>&1 \
    || rmq_fail "rabbitmqctl await_startup" "$RMQ/ctl.log"
  rabbitmqctl -n "$NODE" status >>"$RMQ/ctl.log" 2>&1 \
    || rmq_fail "rabbitmqctl status" "$RMQ/ctl.log"
  until http_answers -f -u guest:guest "http://127.0.0.1:$MGMT_PORT/api/overview"; do
    [ $SECONDS -lt $deadline ] || rmq_fail "no management API on port $MGMT_PORT"
    sleep 0.2
  done
  echo "rabbitmq:   started in $(since "$rmq_t")"
}

# --- PostgreSQL -------------------------------------------------------------------------------------------------------
PG=$RUN/pg
pg_psql() { psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"; }
postgres_start() {
  local t state=running
  t=$(usec)
  if ! pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
    state=started
    need_root "starting PostgreSQL (as user postgres)"
    local bin ver
    if [ -f "$PG/data/PG_VERSION" ]; then ver=$(cat "$PG/data/PG_VERSION"); bin=/usr/lib/postgresql/$ver/bin
    else bin=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1)
    fi
    [ -x "$bin/pg_ctl" ] || fail PostgreSQL "$PG/log" "no server binaries in $bin for the cluster's version"
    mkdir -p "$PG/sock"
    chown postgres:postgres "$PG" "$PG/sock"
    if [ ! -f "$PG/data/PG_VERSION" ]; then
      rm -rf "$PG/data"   # initdb refuses to run as root, hence runuser
      runuser -u postgres -- "$bin/initdb" -D "$PG/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$PG/initdb.log" 2>&1 9>&- || fail "PostgreSQL (initdb)" "$PG/initdb.log"
    fi
    runuser -u postgres -- "$bin/pg_ctl" -D "$PG/data" -l "$PG/log" -w -t "$TIMEOUT" \
      -o "-p $PG_PORT -k $PG/sock -c listen_addresses=127.0.0.1" start >"$PG/pg_ctl.log" 2>&1 9>&- \
      || fail PostgreSQL "$PG/log" "pg_ctl start; also $PG/pg_ctl.log"
  fi
  local deadline=$((SECONDS + TIMEOUT))
  until pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; do
    [ $SECONDS -lt $deadline ] || fail PostgreSQL "$PG/log" "pg_isready on port $PG_PORT"
    sleep 0.2
  done
  if [ -f "$PG/data/postmaster.pid" ]; then head -n 1 "$PG/data/postmaster.pid" >"$RUN/pg.pid"; fi
  local db
  for db in finetune finetune_test; do
    if [ "$(pg_psql -tAc "select 1 from pg_database where datname = '$db'")" != 1 ]; then
      pg_psql -c "create database $db" >/dev/null || fail PostgreSQL "$PG/log" "create database $db"
    fi
  done
  if [ $state = running ]; then echo "postgres:   already running on port $PG_PORT ($(since "$t"))"
  else echo "postgres:   started in $(since "$t")"
  fi
}

# --- s3rver -----------------------------------------------------------------------------------------------------------
S3=$RUN/s3
s3_start() {
  local t
  t=$(usec)
  if http_answers "http://127.0.0.1:$S3_PORT/"; then
    echo "s3rver:     already running on port $S3_PORT ($(since "$t"))"; return
  fi
  mkdir -p "$S3/data"   # s3rver itself: scripts/infra-install.sh
  if ! pid_alive "$RUN/s3rver.pid" node; then
    setsid "$S3/node_modules/.bin/s3rver" --address 127.0.0.1 --port "$S3_PORT" --directory "$S3/data" --silent \
      </dev/null >"$S3/s3rver.log" 2>&1 9>&- &
    echo $! >"$RUN/s3rver.pid"
  fi
  local deadline=$((SECONDS + TIMEOUT))
  until http_answers "http://127.0.0.1:$S3_PORT/"; do
    # alive, not "node": the process just started may still be on its way there (setsid, then the s3rver script's
    # shebang, then node), and a loaded machine can hold it there past the first check
    kill -0 "$(cat "$RUN/s3rver.pid")" 2>/dev/null || fail s3rver "$S3/s3rver.log" "the process exited"
    [ $SECONDS -lt $deadline ] || fail s3rver "$S3/s3rver.log" "no HTTP answer on port $S3_PORT"
    sleep 0.1
  done
  echo "s3rver:     started in $(since "$t")"
}

# --- go ---------------------------------------------------------------------------------------------------------------
total=$(usec)
rabbitmq_launch
postgres_start
s3_start
rabbitmq_wait

cat >"$RUN/infra.env" <<EOF
# Written by scripts/infra-start.sh; source it so services and tests find the servers.
export FINETUNE_RABBITMQ=amqp://guest:guest@127.0.0.1:$AMQP_PORT/
export FINETUNE_RABBITMQ_MANAGEMENT=http://127.0.0.1:$MGMT_PORT
export FINETUNE_RABBITMQ_NODE=$NODE
export FINETUNE_POSTGRES="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=finetune"
export FINETUNE_TEST_POSTGRES="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=finetune_test"
export FINETUNE_S3_ENDPOINT=127.0.0.1:$S3_PORT
export FINETUNE_S3_ACCESS_KEY=S3RVER
export FINETUNE_S3_SECRET_KEY=S3RVER
EOF

cat <<EOF
infra ready in $(since "$total"):
  RabbitMQ    amqp://guest:guest@127.0.0.1:$AMQP_PORT/   (node $NODE)
  management  http://127.0.0.1:$MGMT_PORT   (guest / guest)
  PostgreSQL  Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=finetune   (and finetune_test)
  S3          http://127.0.0.1:$S3_PORT   (S3RVER / S3RVER, path-style, no TLS)
  source .run/infra.env   to export these to services and tests
EOF
