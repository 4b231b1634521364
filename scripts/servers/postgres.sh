#!/usr/bin/env bash
# A private PostgreSQL cluster in the foreground with the database `finetune`, its data under $FINETUNE_DATA/postgres
# (kept across restarts): the AppHost's executables mode runs it. Settings: FINETUNE_DATA, FINETUNE_POSTGRES_PORT.
# Installs PostgreSQL when missing (scripts/infra-install.sh). As root the server runs as user postgres.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/infra-install.sh
D=${FINETUNE_DATA:?FINETUNE_DATA names the folder for the server\'s data}/postgres
PORT=${FINETUNE_POSTGRES_PORT:?}
mkdir -p "$D/sock"
if [ -f "$D/data/PG_VERSION" ]; then bin=/usr/lib/postgresql/$(cat "$D/data/PG_VERSION")/bin
else bin=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1)
fi
as_postgres=()
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$D" "$D/sock"
  as_postgres=(runuser -u postgres --)   # initdb and the server refuse to run as root
fi
if [ ! -f "$D/data/PG_VERSION" ]; then
  rm -rf "$D/data"
  "${as_postgres[@]}" "$bin/initdb" -D "$D/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$D/initdb.log"
  # The services' database, made before the server listens, so "healthy" means "usable".
  echo 'create database finetune;' | "${as_postgres[@]}" "$bin/postgres" --single -D "$D/data" postgres >/dev/null
fi
exec "${as_postgres[@]}" "$bin/postgres" -D "$D/data" -p "$PORT" -k "$D/sock" -c listen_addresses=127.0.0.1
