#!/usr/bin/env bash
# A private RabbitMQ node in the foreground, all its state under $FINETUNE_DATA/rabbitmq (kept across restarts): the
# AppHost's executables mode runs it (scripts/infra-start.sh runs the same kind of node in the background). Settings:
# FINETUNE_DATA, FINETUNE_RABBITMQ_PORT, FINETUNE_RABBITMQ_MANAGEMENT_PORT, FINETUNE_RABBITMQ_DIST_PORT,
# FINETUNE_RABBITMQ_NODE. Installs RabbitMQ when missing (scripts/infra-install.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/infra-install.sh
export PATH=$PATH:/usr/sbin
D=${FINETUNE_DATA:?FINETUNE_DATA names the folder for the server\'s data}/rabbitmq
mkdir -p "$D"
printf 'listeners.tcp.default = 127.0.0.1:%s\nmanagement.tcp.port = %s\nmanagement.tcp.ip = 127.0.0.1\n' \
  "${FINETUNE_RABBITMQ_PORT:?}" "${FINETUNE_RABBITMQ_MANAGEMENT_PORT:?}" >"$D/rabbitmq.conf"
echo '[rabbitmq_management].' >"$D/enabled_plugins"
export RABBITMQ_NODENAME=${FINETUNE_RABBITMQ_NODE:?} RABBITMQ_CONFIG_FILE=$D/rabbitmq \
  RABBITMQ_ENABLED_PLUGINS_FILE=$D/enabled_plugins RABBITMQ_MNESIA_BASE=$D/mnesia RABBITMQ_LOG_BASE=$D/log \
  RABBITMQ_DIST_PORT=${FINETUNE_RABBITMQ_DIST_PORT:?} ERL_CRASH_DUMP=$D/erl_crash.dump \
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
if [ "$(id -u)" = 0 ]; then
  # As root the node runs as user rabbitmq, which must own its data. Not Debian's wrapper (/usr/sbin/rabbitmq-server):
  # it runs su under a shell that does not pass a stop signal on, and the node would outlive a stop.
  chown -R rabbitmq:rabbitmq "$D"
  cd /var/lib/rabbitmq   # the node's home (its Erlang cookie)
  exec runuser -u rabbitmq -- /usr/lib/rabbitmq/bin/rabbitmq-server
fi
exec /usr/lib/rabbitmq/bin/rabbitmq-server
