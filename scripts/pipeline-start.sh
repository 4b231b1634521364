#!/usr/bin/env bash
# Starts the distributed pipeline without Aspire or containers: the servers (scripts/infra-start.sh: RabbitMQ,
# PostgreSQL, s3rver on loopback ports), then the five services, each on its own port with logs under .run/services/.
# Prints the URLs. Stop with scripts/pipeline-stop.sh. Drop a dataset with `finetune upload FILE --project P`
# (after `source .run/infra.env`), watch it with `finetune runs --watch`.
# The services listen on FINETUNE_SERVICES_PORT (default 5601) and the four ports after it, in pipeline order.
# FINETUNE_BASE_MODEL=DIR uses that Hugging Face model as the default base; unset, `finetune pretrain` finds or builds
# the tiny base model (a few minutes the first time; cached in ~/.cache/finetune/base-models, shared with `finetune run`).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
bash scripts/infra-start.sh
# shellcheck disable=SC1091
source .run/infra.env

mkdir -p .run/services
echo "building the services (Release)…"
# The five services and the CLI in one build (services/services.slnf; `dotnet build` takes one project or solution).
dotnet build -c Release -v q -nologo services/services.slnf > .run/services/build.log 2>&1 \
  || { echo "pipeline-start: building the services failed; see .run/services/build.log" >&2; tail -n 20 .run/services/build.log >&2; exit 1; }
if [ -z "${FINETUNE_BASE_MODEL:-}" ]; then
  # No base model named: the tiny base model, pre-trained on first use (a few minutes) and cached for every later start.
  echo "base model: the tiny base model (finetune pretrain; cached in ~/.cache/finetune/base-models)…"
  FINETUNE_BASE_MODEL=$(tools/FineTune.Cli/bin/Release/net10.0/finetune pretrain 2>> .run/services/pretrain.log) \
    || { echo "pipeline-start: finetune pretrain failed; see .run/services/pretrain.log" >&2; tail -n 20 .run/services/pretrain.log >&2; exit 1; }
fi
echo "base model: $FINETUNE_BASE_MODEL"

first_port=${FINETUNE_SERVICES_PORT:-5601}
port=$first_port
for svc in Ingestion Tokenization Training Evaluation Deployment; do
  lower=${svc,,}
  pidfile=.run/services/$lower.pid
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "$lower already running (pid $(cat "$pidfile"))"; port=$((port + 1)); continue
  fi
  settings=(
    "ASPNETCORE_URLS=http://127.0.0.1:$port"
    "Messaging__RabbitMqUri=$FINETUNE_RABBITMQ"
    "Registry__Provider=postgres" "Registry__ConnectionString=$FINETUNE_POSTGRES"
    "Artifacts__S3Endpoint=$FINETUNE_S3_ENDPOINT" "Artifacts__S3AccessKey=$FINETUNE_S3_ACCESS_KEY" "Artifacts__S3SecretKey=$FINETUNE_S3_SECRET_KEY"
    "Pipeline__WorkDirectory=$REPO/.run/work/$lower" "Pipeline__BaseModelDirectory=$(realpath "$FINETUNE_BASE_MODEL")"
    "OTEL_SERVICE_NAME=$lower"
  )
  env "${settings[@]}" nohup dotnet "services/$svc/bin/Release/net10.0/FineTune.${svc}Service.dll" > ".run/services/$lower.log" 2>&1 9>&- &
  echo $! > "$pidfile"
  port=$((port + 1))
done

port=$first_port
for svc in ingestion tokenization training evaluation deployment; do
  for _ in $(seq 1 60); do
    if curl -sf "http://127.0.0.1:$port/health" > /dev/null; then break; fi
    if ! kill -0 "$(cat .run/services/$svc.pid)" 2>/dev/null; then
      echo "pipeline-start: $svc exited; see .run/services/$svc.log" >&2; tail -n 20 ".run/services/$svc.log" >&2; exit 1
    fi
    sleep 1
  done
  echo "$svc   http://127.0.0.1:$port  (health /health, runs /runs, OpenAPI /openapi/v1.json)"
  port=$((port + 1))
done
echo "RabbitMQ management  $FINETUNE_RABBITMQ_MANAGEMENT (guest/guest)"
echo "models               http://127.0.0.1:$((first_port + 4))/models"
echo "ready: source .run/infra.env && finetune upload FILE --project P && finetune runs --watch"
